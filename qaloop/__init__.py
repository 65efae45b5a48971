"""qaloop: a social-care quality-assurance audit programme run end to end.

The domain, laid out by the concepts a QA lead would name; none of it imports Prefect, Great Expectations or
the layers above it (``flows/``, ``tasks/``, ``checks/``, ``cli/``), as tests/test_structure.py enforces:

- ``core``: the configuration, the canonical datasets, roles, working days, cycle dates, templates' home.
- ``store``: the tables, engines and migrations, the handles of an authority and a cycle, the shared joins,
  and ``lifecycle``, the one place any allocation, cycle or action status changes.
- ``sources``: reading CSV / XLSX / SQL and Ofsted Annex A into canonical frames, and loading them.
- ``messaging``: ``compose`` (every email), the outbox and its sending, run alerts.
- ``programmes``: drawing samples (regular cycles, deep dives, managers' months) under the one eligibility
  rule, recording them, and explaining any draw again.
- ``allocation``: auditors for the drawn cases, moves and substitutes, and the cycle's notices.
- ``returns``: returned work read, annotated and filed; what follows a filed return; chasing; workbooks.
- ``moderation``: the moderation sample, its record, and agreement statistics.
- ``reporting``: figures, SPC, charts, rendering, triangulation, the cycle's close and the workshop dataset.
- ``demo``: the synthetic authority, its simulated returns, and a local mail sink.
"""
