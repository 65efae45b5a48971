"""The one way a council's extracts enter the store: read each configured source, check it (Great
Expectations), apply its policy (stop with nothing written, or set the failing rows aside in a quarantine
file), and store what passed, one transaction per dataset, each file's content once.

``qaloop load``, the audit-cycle and triangulation flows and the demo all come through here, so nothing one
of them would refuse can be stored by another, and a case set aside is never drawn, whichever saw it first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from checks.evidence import EVIDENCE, check_and_load_evidence
from checks.extracts import check_and_load_extracts
from checks.history import check_history
from checks.indicators import check_and_load_indicators
from checks.outcomes import CheckReport, Intake
from checks.providers import check_and_load_providers
from checks.runner import keep, store
from qaloop.core.schema import EXTRACTS, GOVERNANCE, PROVIDER_INTELLIGENCE, Dataset
from qaloop.core.settings import Settings
from qaloop.sources.readers import read_dataset
from qaloop.store.engine import engine_from
from qaloop.store.handles import authority_id


def take_in(
    settings: Settings,
    datasets: Iterable[Dataset],
    as_of: date,
    on_report: Callable[[CheckReport], None] = lambda report: None,
) -> list[Intake]:
    """Check and store each of ``datasets`` that is configured, in the order of ``EXTRACTS``, then the commissioned
    market's (``PROVIDER_INTELLIGENCE``, the provider list first), then the KPI return (``GOVERNANCE``).

    The staff list and the case extract are checked together (cases are checked against the staff list) and
    both stored when either is asked for. Raises CheckFailed (or EvidenceFailed) with nothing of that dataset
    written when its policy says stop; SourceError when a file cannot be read; LoadError when the store
    refuses a row.
    """
    wanted = [
        dataset
        for dataset in (*EXTRACTS, *PROVIDER_INTELLIGENCE, *GOVERNANCE)
        if dataset in set(datasets) and dataset in settings.sources
    ]
    taken: list[Intake] = []
    if Dataset.STAFF in wanted or Dataset.CASES in wanted:
        loaded = check_and_load_extracts(settings, as_of, on_report)
        taken += [loaded.staff, loaded.cases] if Dataset.CASES in settings.sources else [loaded.staff]
    if Dataset.AUDIT_HISTORY in wanted:
        taken.append(take_in_history(settings, as_of, on_report))
    if evidence := [dataset for dataset in wanted if dataset in EVIDENCE]:
        taken += check_and_load_evidence(settings, as_of, on_report, evidence)
    if market := [dataset for dataset in wanted if dataset in PROVIDER_INTELLIGENCE]:
        taken += check_and_load_providers(settings, as_of, on_report, market)
    if Dataset.INDICATORS in wanted:
        taken.append(check_and_load_indicators(settings, as_of, on_report))
    return taken


def take_in_history(settings: Settings, as_of: date, on_report: Callable[[CheckReport], None]) -> Intake:
    """Check the audit history, then store it (see ``take_in``)."""
    engine = engine_from(settings)
    authority_id(engine, settings)  # the staff and cases come first: say so rather than refuse every row
    report, history = check_history(settings, read_dataset(settings, Dataset.AUDIT_HISTORY, as_of), as_of)
    on_report(report)
    kept = keep(settings, Dataset.AUDIT_HISTORY, report, history, "case_ref", as_of)
    return store(engine, settings, Dataset.AUDIT_HISTORY, kept)
