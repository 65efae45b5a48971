"""Email: ``compose`` builds every message and its outbox key, the outbox queues and sends them once through
yagmail, and alerts tell the QA team about runs that failed or never started."""
