"""qaloop's Jinja2 templates, shipped with the package: ``email/`` (each message as an HTML and a plain-text
pair) and ``report/`` (the cycle's reports). Nothing but templates belongs here."""
