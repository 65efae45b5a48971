"""Governance: what the leadership reads beside the audits. ``indicators`` reads the stored monthly figures of the
key performance indicators; ``compendium`` is the monthly performance compendium (every indicator on its XmR
chart, read by Making Data Count, against target and benchmarks, by service area) and when it goes.
"""
