"""Prefect tasks: the units of retry, caching and observability around qaloop's domain code.

A task gathers its inputs, calls the domain (``qaloop/``) or a client, publishes what the QA team should
see in the Prefect UI as artifacts, and returns. Retries only where I/O can fail (database, SMTP, files).
"""
