"""Governance: what the leadership reads beside the audits. ``indicators`` reads the stored monthly figures of the
key performance indicators; ``compendium`` is the monthly performance compendium (every indicator on its XmR
chart, read by Making Data Count, against target and benchmarks, by service area) and when it goes;
``escalations`` is escalation by exception (the events raised at once to the senior leadership team, chased until
acknowledged, closed with their outcome); ``quarterly`` is the quarterly leadership QA report (headlines by
business unit and by quality standard from the four sources of evidence, and the one actions register); ``review``
is the six-monthly service performance review's workbook (Coventry's four lenses).
"""
