"""The ``qaloop`` command line: set up the store, write the demo authority, load extracts, check the setup."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from cli import doctor
from qaloop.allocation import notices
from qaloop.allocation import record as allocation_record
from qaloop.core import cycle_dates as cycles
from qaloop.core.months import last_month
from qaloop.core.schema import EXTRACTS, GOVERNANCE, PROVIDER_INTELLIGENCE, Dataset, columns_table
from qaloop.core.settings import ConfigError, Settings, load_settings
from qaloop.demo import synthetic
from qaloop.governance.indicators import GovernanceError
from qaloop.messaging import outbox, undelivered
from qaloop.moderation.agreement import kappa_said
from qaloop.programmes import cycle_record
from qaloop.programmes.explain import explain_cycle, reason_counts
from qaloop.sources import loading
from qaloop.sources.readers import SourceError
from qaloop.store import models
from qaloop.store.engine import current_revision, engine_from, head_revision, upgrade
from qaloop.store.handles import CycleError, latest_cycle_ref, stored_dates

app = typer.Typer(
    help="qaloop: run a social-care quality-assurance audit programme. Add --debug to any command to see the "
    "traceback of an unexpected error.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cycle_app = typer.Typer(help="Audit cycles: draw a cycle's sample, and explain how it was drawn.", no_args_is_help=True)
app.add_typer(cycle_app, name="cycle")
allocation_app = typer.Typer(help="Allocations: give a cycle's cases to auditors, and move them.", no_args_is_help=True)
app.add_typer(allocation_app, name="allocation")
returns_app = typer.Typer(help="Returned work: file the drop folder, chase what is owed.", no_args_is_help=True)
app.add_typer(returns_app, name="returns")
moderation_app = typer.Typer(help="Moderation: explain how a cycle's sample was drawn.", no_args_is_help=True)
app.add_typer(moderation_app, name="moderation")
action_app = typer.Typer(help="Corrective actions: confirm them, close them with their evidence.", no_args_is_help=True)
app.add_typer(action_app, name="action")
provider_app = typer.Typer(
    help="Commissioned providers: propose each month's threshold levels, explain them, record decisions.",
    no_args_is_help=True,
)
app.add_typer(provider_app, name="provider")
escalation_app = typer.Typer(
    help="Escalations by exception: raise them now, list them, acknowledge them, close them with their outcome.",
    no_args_is_help=True,
)
app.add_typer(escalation_app, name="escalation")
review_app = typer.Typer(
    help="Service performance reviews: send the workbooks due and chase those not returned, list where each stands.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="the configuration file (default: $QALOOP_CONFIG or qaloop.yaml)")
]

SelectionDateOption = Annotated[
    str | None, typer.Option(help="the selection date, YYYY-MM-DD (default: the next scheduled one)")
]
SeedOption = Annotated[int | None, typer.Option(help="the random seed (default: derived from the authority and cycle)")]
CycleArgument = Annotated[str | None, typer.Argument(help="the cycle, e.g. 2026-09 (default: the latest open one)")]


@contextmanager
def _refusals(*errors: type[Exception]) -> Iterator[None]:
    """The domain's refusals (bad data, a rule broken) as a red message and exit code 1, never a traceback."""
    try:
        yield
    except errors as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(1) from None


def _print_failed_check(report: Any) -> None:
    """A check report that found something, in yellow on stderr (a clean one says nothing)."""
    if not report.ok:
        typer.secho(report.describe(), fg="yellow", err=True)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command("init-db")
def init_db(config: ConfigOption = None) -> None:
    """Create the store, or migrate it to this version of qaloop."""
    settings = _settings(config)
    engine = engine_from(settings)
    before = current_revision(engine)
    upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == head_revision():
        typer.echo(f"Store {where} is up to date (migration {before}).")
    else:
        typer.echo(f"Store {where} migrated from {before or 'empty'} to {head_revision()}.")


@app.command("demo-data")
def demo_data(
    config: ConfigOption = None,
    cases: Annotated[int, typer.Option(help="how many cases (25,000 is a county; 1,000,000 for benchmarks)")] = 25_000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same authority")] = 1,
    as_of: Annotated[
        str | None, typer.Option(help="the date the extracts are taken, YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Write a synthetic authority's extracts to the configured source files: its staff, cases, history and
    evidence, its monthly KPI return where one is configured, and, where the commissioned market's sources are
    configured, a market of a few hundred providers with a year of intelligence."""
    from qaloop.demo import indicators, market

    settings = _settings(config)
    day = _date(as_of)
    if any(dataset in settings.sources for dataset in EXTRACTS):
        authority = synthetic.generate(settings, as_of=day, seed=seed, cases=cases)
        for dataset, path in synthetic.write_extracts(authority, settings).items():
            typer.echo(f"  {dataset.value:<22} {len(authority[dataset]):>9,} rows -> {path}")
    if Dataset.INDICATORS in settings.sources:
        kpis = indicators.generate_indicators(settings, as_of=day, seed=seed)
        typer.echo(
            f"  {Dataset.INDICATORS.value:<22} {len(kpis):>9,} rows -> {indicators.write_indicators(settings, kpis)}"
        )
    if Dataset.PROVIDERS in settings.sources:
        made = market.generate_market(settings, as_of=day, seed=seed)
        for dataset, path in market.write_market(made, settings).items():
            typer.echo(f"  {dataset.value:<22} {len(made.frames[dataset]):>9,} rows -> {path}")


@app.command("demo-panel")
def demo_panel(
    config: ConfigOption = None,
    seed: Annotated[int, typer.Option(help="the seed `qaloop demo-data` was given")] = 1,
) -> None:
    """Run the market `qaloop demo-data` wrote today (and `qaloop load` stored) through two months of the quality
    review panel: proposals, urgent reviews, the panel's decisions, and the pack and dashboard."""
    from qaloop.demo import market
    from qaloop.providers import record

    settings = _settings(config)
    with _refusals(record.ProviderError, CycleError):
        played = market.play_panel(engine_from(settings), settings, date.today(), seed)
    (before, first), (last, placed) = played.proposed.items()
    typer.echo(f"{before}: {len(first):,} provider(s) proposed (the panel's first month: every level a first one)")
    typer.echo(f"{last}: {len(placed):,} provider(s) proposed")
    _echo_movements(placed)
    typer.echo("Urgent reviews raised (the panel emailed at once):")
    for line in played.urgent or ["none"]:
        typer.echo(f"  {line}")
    typer.echo("The panel's decisions:")
    for line in played.decided:
        typer.echo(f"  {line}")
    typer.echo("The panel pack and the market dashboard:")
    for path in (played.reports.pack, played.reports.dashboard):
        typer.echo(f"  {path}")


@app.command("load")
def load(
    config: ConfigOption = None,
    dataset: Annotated[
        list[Dataset] | None, typer.Argument(help="datasets to load (default: every configured one)")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="the run date bound as :as_of in SQL sources")] = None,
) -> None:
    """Check the configured extracts and load what passes into the store, as the flows do (rows that fail go
    to a quarantine file, or nothing is loaded, as each dataset's policy says); each file's content is loaded
    once."""
    settings = _settings(config)
    engine = engine_from(settings)
    if current_revision(engine) != head_revision():
        typer.secho(
            "The store is not set up for this version of qaloop: run `qaloop init-db` first.", fg="red", err=True
        )
        raise typer.Exit(1)
    loadable = (*EXTRACTS, *PROVIDER_INTELLIGENCE, *GOVERNANCE)
    returned_work = [d.value for d in dataset or [] if d not in loadable]
    if returned_work:
        typer.secho(
            f"{', '.join(returned_work)}: returned work comes through the drop folder ({settings.returns.inbox}), "
            "not `qaloop load`; run `qaloop returns ingest`.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    chosen = dataset or [d for d in loadable if d in settings.sources]
    from checks.intake import take_in  # Great Expectations is slow to import: only here
    from checks.outcomes import CheckFailed, EvidenceFailed

    with _refusals(SourceError, loading.LoadError, CheckFailed, EvidenceFailed, CycleError):
        taken = take_in(settings, chosen, _date(as_of) if as_of else date.today(), on_report=_print_failed_check)
    for intake in taken:
        if intake.already_loaded:
            typer.echo(f"  {intake.dataset.value:<14} already loaded (same file content), skipped")
        else:
            typer.echo(
                f"  {intake.dataset.value:<14} {intake.rows:>9,} rows: {intake.new:,} new, {intake.updated:,} updated"
            )
        if intake.rows > intake.stored:
            where = f" ({intake.quarantine_file})" if intake.quarantine_file else ""
            typer.secho(f"  {'':<14} {intake.rows - intake.stored:>9,} set aside by its checks{where}", fg="yellow")
        for left_out in intake.left_out:
            typer.echo(f"  {'':<14} left out: {left_out}")
    typer.echo(f"\nThe store now holds for {settings.authority.name}:")
    for what, count in loading.counts(engine, settings).items():
        typer.echo(f"  {what:<20} {count:>9,}")


@app.command("check")
def check(
    config: ConfigOption = None,
    on: Annotated[str | None, typer.Option(help="the cycle due on or after this date (default: the next)")] = None,
    html: Annotated[Path | None, typer.Option(help="where to write the HTML report")] = None,
) -> None:
    """Check the configured sources as the next cycle would take them, and draw and allocate it, in a scratch
    store: report what would load, be set aside or stop, what the draw needs, and each stratum and area. Writes
    nothing to the store; exits 1 if the cycle would not run."""
    settings = _settings(config)
    from checks.onboarding import check_authority, write_report  # Great Expectations is slow to import

    outcome = check_authority(settings, _date(on) if on else None)
    colours = {"ok": None, "warn": "yellow", "stop": "red"}
    for line, weight in outcome.lines():
        typer.secho(line, fg=colours[weight])
    path = write_report(outcome, html or settings.output_dir / "check" / f"check-{date.today()}.html")
    typer.echo(f"Report: {path}")
    if not outcome.ok:
        raise typer.Exit(1)


@app.command("columns")
def columns(
    providers: Annotated[
        bool, typer.Option("--providers", help="the commissioned market's datasets instead of the council's extracts")
    ] = False,
    governance: Annotated[
        bool, typer.Option("--governance", help="the KPI return's columns instead of the council's extracts")
    ] = False,
) -> None:
    """Print the canonical columns of every extract (what a source's `columns` mapping maps to), as in README."""
    typer.echo(columns_table(PROVIDER_INTELLIGENCE if providers else GOVERNANCE if governance else EXTRACTS), nl=False)


@app.command("doctor")
def run_doctor(config: ConfigOption = None) -> None:
    """Check the configuration, the database, the sources, the SMTP server and the Prefect API."""
    findings = doctor.diagnose(config)
    for finding in findings:
        mark = typer.style("ok  ", fg="green") if finding.ok else typer.style("FAIL", fg="red")
        typer.echo(f"{mark} {finding.check:<22} {finding.detail}")
    if not all(finding.ok for finding in findings):
        raise typer.Exit(1)


@cycle_app.command("run")
def cycle_run(
    config: ConfigOption = None,
    on: SelectionDateOption = None,
    seed: SeedOption = None,
    dry_run: Annotated[
        bool, typer.Option(help="draw and allocate, then discard both (see them in the Prefect UI); send nothing")
    ] = False,
) -> None:
    """Run the whole audit-cycle flow in Prefect now: check and load, draw, allocate, queue and send."""
    settings = _settings(config)
    if on:
        with _refusals(ValueError):
            cycles.cycle_ref(settings.calendar, _date(on))
    from flows.audit_cycle import audit_cycle  # Prefect is slow to import: only here

    state = audit_cycle(
        config=str(config) if config else None,
        selection_date=_date(on) if on else None,
        seed=seed,
        dry_run=dry_run,
        return_state=True,
    )
    summary = _finished(state, "The cycle")
    typer.echo(
        f"Cycle {summary.cycle_ref}: {summary.cases_loaded:,} cases loaded ({summary.cases_quarantined} quarantined), "
        f"{summary.allocated_in_cycle} allocated in the cycle ({summary.allocated or 'none'} by this run), "
        f"{summary.waiting_for_an_auditor} waiting for an auditor; emails: {summary.emails_queued} queued and "
        f"{summary.emails_sent} sent by this run, {summary.emails_delivered_in_cycle} of the cycle's delivered in "
        f"all, {summary.emails_still_queued} still queued."
    )
    typer.echo(f"Audit tool workbooks: {settings.output_dir / 'cycles' / summary.cycle_ref}")


def _finished(state: Any, what: str) -> Any:
    """Say where the flow run is recorded; exit 1 with Prefect's message unless it completed; its result."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    run_id = state.state_details.flow_run_id
    where = PREFECT_API_URL.value() or f"the local Prefect database in {PREFECT_HOME.value()}"
    typer.echo(f"Prefect flow run {run_id} ({state.name}), recorded in {where}.")
    if not PREFECT_API_URL.value():
        from tasks.alerts import run_address

        typer.echo(f"  `make ui` shows it at {run_address(run_id)}")
    if not state.is_completed():
        typer.secho(f"{what} did not finish: {state.message}", fg="red", err=True)
        raise typer.Exit(1)
    return state.result()


@cycle_app.command("report")
def cycle_report_command(
    config: ConfigOption = None,
    cycle_ref: Annotated[str | None, typer.Option("--cycle", help="the cycle (default: the latest one)")] = None,
) -> None:
    """Run the cycle-report flow for a cycle now, whether or not it has reached its close date: write its
    reports and workshop dataset, close it, and send the reports to their distribution lists."""
    settings = _settings(config)
    from flows.cycle_report import cycle_report

    with _refusals(CycleError):
        cycle_ref = cycle_ref or latest_cycle_ref(engine_from(settings), settings)
    summary = _finished(
        cycle_report(config=str(config) if config else None, cycle_ref=cycle_ref, return_state=True), "The report"
    )
    typer.echo(
        f"Cycle {cycle_ref}: reports written, {summary.emails_queued} email(s) queued, {summary.emails_sent} sent:"
    )
    for path in summary.reports.get(cycle_ref, []):
        typer.echo(f"  {path}")
    folder = settings.output_dir / "cycles" / cycle_ref / "reports"
    typer.echo(f"Each report's XLSX data pack, and the anonymised workshop dataset, are beside them in {folder}")
    if summary.concerns:
        typer.echo(
            f"Concerns raised as events (the deep-dive deployment's trigger starts a deep dive for each): "
            f"{', '.join(summary.concerns)}"
        )


@app.command("triangulate")
def triangulate_command(
    config: ConfigOption = None,
    on: Annotated[str | None, typer.Option("--on", help="run as if on this date (YYYY-MM-DD); default today")] = None,
) -> None:
    """Run the triangulation flow now: check and store the citizen evidence, set it beside the audit findings
    for the whole months before the date, and email the QA team what converges."""
    _settings(config)
    from flows.triangulation import triangulation

    state = triangulation(config=str(config) if config else None, today=_date(on) if on else None, return_state=True)
    summary = _finished(state, "The triangulation")
    typer.echo(f"Triangulation, {summary.window}: {len(summary.flagged)} flagged; {summary.emails_sent} email(s) sent.")
    for flagged in summary.flagged:
        typer.echo(f"  {flagged}")


@app.command("compendium")
def compendium_command(
    month: Annotated[str | None, typer.Argument(help="the month, YYYY-MM (default: the month last ended)")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the performance-compendium flow now for a month: check and store the KPI return, write the compendium
    (HTML and XLSX) and send it to the managers' list, once a month."""
    _settings(config)
    from flows.performance_compendium import performance_compendium

    chosen = month or last_month(date.today())
    state = performance_compendium(config=str(config) if config else None, month=chosen, return_state=True)
    summary = _finished(state, "The compendium")
    typer.echo(f"Performance compendium, {chosen}: {summary.emails_sent} email(s) sent.")
    typer.echo(f"  {summary.compendium}")
    typer.echo(f"  {Path(summary.compendium or '').with_suffix('.xlsx')}")


@app.command("quarterly")
def quarterly_command(
    config: ConfigOption = None,
    quarter_of: Annotated[
        str | None, typer.Option(help="a day in the quarter to report, YYYY-MM-DD (default: the quarter last ended)")
    ] = None,
) -> None:
    """Run the quarterly-report flow now for a quarter: write the quality assurance report to the leadership team
    (HTML and XLSX) and send it, once a quarter."""
    _settings(config)
    from flows.quarterly_report import quarterly_report
    from qaloop.governance.quarterly import quarter_of as quarter_containing

    day = _date(quarter_of) if quarter_of else quarter_containing(date.today()).start - timedelta(days=1)
    state = quarterly_report(config=str(config) if config else None, quarter_of_day=day, return_state=True)
    summary = _finished(state, "The quarterly report")
    typer.echo(f"Quality assurance report, {summary.quarter}: {summary.emails_sent} email(s) sent.")
    typer.echo(f"  {summary.report}")
    typer.echo(f"  {Path(summary.report or '').with_suffix('.xlsx')}")


@app.command("review-workbook")
def review_workbook_command(
    service_area: Annotated[str, typer.Argument(help="the service area's id in governance.service_areas")],
    period_end: Annotated[
        str | None, typer.Option(help="a day in the last month the review looks back on (default: last month)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write a service area's six-monthly service performance review workbook (Coventry's Appendix 2: one sheet per
    lens, each judgement area's evidence pre-filled, Comments, Judgement and Actions for the head of service)."""
    from qaloop.governance.review import write_review_workbook

    settings = _settings(config)
    end = _date(period_end) if period_end else date.today().replace(day=1) - timedelta(days=1)
    with _refusals(GovernanceError, CycleError):
        path = write_review_workbook(engine_from(settings), settings, service_area, end)
    typer.echo(f"Service performance review workbook, {service_area}: {path}")


@review_app.command("run")
def review_run(
    config: ConfigOption = None,
    on: Annotated[str | None, typer.Option("--on", help="run as if on this date (YYYY-MM-DD); default today")] = None,
) -> None:
    """Run the service-review flow now: send each review workbook due to its head of service, chase those not
    returned, send."""
    _settings(config)
    from flows.service_review import service_review

    state = service_review(config=str(config) if config else None, today=_date(on) if on else None,
                           return_state=True)  # fmt: skip
    summary = _finished(state, "The service review run")
    typer.echo(f"{len(summary.sent)} review workbook(s) sent ({', '.join(summary.sent) or 'none'}); "
               f"{summary.reminders} reminder(s); {summary.emails_sent} email(s) sent.")  # fmt: skip


@review_app.command("list")
def review_list(config: ConfigOption = None) -> None:
    """List the service performance reviews: sent, due, self-assessed, the panel's record, their judgements."""
    from qaloop.governance import review_panels

    settings = _settings(config)
    with _refusals(GovernanceError, CycleError):
        table = review_panels.reviews_register(engine_from(settings), settings)
    if table.empty:
        typer.echo("No service performance review sent.")
    for row in table.to_dict("records"):
        stages = ("self-assessment", "panel's judgements")
        judged = "; ".join(f"{stage}: {row[stage]}" for stage in stages if row[stage])
        typer.echo(f"{row['review']} (panel {row['panel']}): sent {row['sent']}, due {row['due']}, {row['status']}"
                   + (f"; {judged}" if judged else ""))  # fmt: skip


@app.command("demo-review")
def demo_review(
    service_area: Annotated[str, typer.Argument(help="the service area's id in governance.service_areas")],
    config: ConfigOption = None,
) -> None:
    """Play out a service area's next six-monthly service performance review on the demo's data: the workbook sent,
    the head of service's self-assessment returned (a first copy quarantined), the panel's record filed."""
    from checks.returns import check_return_file
    from qaloop.demo.review import play_review

    settings = _settings(config)
    with _refusals(GovernanceError, CycleError):
        played = play_review(engine_from(settings), settings, service_area, date.today(), check_return_file)
    typer.echo(f"{played.reference}: the workbook sent to the head of service: {played.workbook}")
    for outcome in played.returned:
        said = f" ({outcome.problem.splitlines()[0]})" if outcome.problem else ""
        typer.echo(f"  {outcome.name}: {outcome.status}{said}")


@escalation_app.command("run")
def escalation_run(
    config: ConfigOption = None,
    on: Annotated[str | None, typer.Option("--on", help="run as if on this date (YYYY-MM-DD); default today")] = None,
) -> None:
    """Run the escalation-by-exception flow now: raise the events found, chase those not acknowledged, send."""
    _settings(config)
    from flows.escalation_by_exception import escalation_by_exception

    state = escalation_by_exception(config=str(config) if config else None, today=_date(on) if on else None,
                                    return_state=True)  # fmt: skip
    summary = _finished(state, "Escalation by exception")
    typer.echo(f"{len(summary.raised)} escalation(s) raised ({', '.join(summary.raised) or 'none'}); "
               f"{summary.reminders} reminder(s); {summary.emails_sent} email(s) sent.")  # fmt: skip


@escalation_app.command("list")
def escalation_list(
    config: ConfigOption = None,
    since: Annotated[str | None, typer.Option(help="raised on or after this date (YYYY-MM-DD)")] = None,
) -> None:
    """List the escalations raised (since a date) and what became of each."""
    from qaloop.governance import escalations

    settings = _settings(config)
    with _refusals(escalations.EscalationError, GovernanceError, CycleError):
        table = escalations.register(engine_from(settings), settings, _date(since) if since else date.min, date.max)
    if table.empty:
        typer.echo("No escalation raised.")
    for row in table.to_dict("records"):
        outcome = f" ({row['outcome']})" if row["outcome"] else ""
        typer.echo(
            f"{row['escalation']} raised {row['raised on']}, {row['status']}{outcome}: {row['what']}: {row['about']}"
        )


@escalation_app.command("acknowledge")
def escalation_acknowledge(
    reference: Annotated[str, typer.Argument(help="the escalation, as ESC-12")],
    by: Annotated[str, typer.Option(help="the staff id of the senior leader acknowledging it")],
    note: Annotated[str | None, typer.Option(help="what is being done about it")] = None,
    config: ConfigOption = None,
) -> None:
    """Record that an escalation has been acknowledged: its chasing stops."""
    from qaloop.governance import escalations

    settings = _settings(config)
    with _refusals(escalations.EscalationError, GovernanceError, CycleError):
        typer.echo(escalations.acknowledge(engine_from(settings), settings, reference, by, note))


@escalation_app.command("close")
def escalation_close(
    reference: Annotated[str, typer.Argument(help="the escalation, as ESC-12")],
    by: Annotated[str, typer.Option(help="the staff id of the senior leader closing it")],
    outcome: Annotated[str, typer.Option(help="what became of it")],
    action: Annotated[str | None, typer.Option(help="the action the outcome sets, for the actions register")] = None,
    owner: Annotated[str | None, typer.Option(help="the action's owner, by staff id")] = None,
    due: Annotated[str | None, typer.Option(help="the action's due date, YYYY-MM-DD")] = None,
    measure: Annotated[
        str | None,
        typer.Option(help="the key indicator the action is to improve (default: an indicator concern's indicator)"),
    ] = None,
    measure_area: Annotated[
        str | None, typer.Option(help="the service area of the measure (default: the whole service)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Close an escalation with its outcome (and the action it sets, with --action, --owner and --due, and the
    indicator it is to improve, --measure); the quarterly report lists it so, with whether its measure has moved."""
    from qaloop.governance import escalations

    settings = _settings(config)
    if action is not None and (owner is None or due is None):
        typer.secho("An action needs its owner (--owner STAFF_ID) and due date (--due YYYY-MM-DD).", fg="red", err=True)
        raise typer.Exit(1)
    follow_up = (
        escalations.FollowUp(action, owner, _date(due), measure, measure_area) if action and owner and due else None
    )
    with _refusals(escalations.EscalationError, GovernanceError, CycleError):
        typer.echo(escalations.close(engine_from(settings), settings, reference, by, outcome, follow_up))


@app.command("deep-dive")
def deep_dive_command(
    theme: Annotated[str, typer.Option(help="what the deep dive is about")],
    config: ConfigOption = None,
    reason: Annotated[str, typer.Option(help="who asked for it and why")] = "asked for by operations",
    audit_type: Annotated[list[str] | None, typer.Option("--type", help="an audit type id (repeat for more)")] = None,
    area: Annotated[list[str] | None, typer.Option("--area", help="an area code (repeat for more)")] = None,
    team: Annotated[list[str] | None, typer.Option("--team", help="a team name (repeat for more)")] = None,
    activity_from: Annotated[str | None, typer.Option(help="cases with activity on or after (YYYY-MM-DD)")] = None,
    activity_to: Annotated[str | None, typer.Option(help="cases with activity on or before (YYYY-MM-DD)")] = None,
    question: Annotated[str | None, typer.Option(help="the audit-tool question that showed the concern")] = None,
    size: Annotated[int, typer.Option(help="how many cases to audit")] = 20,
    due: Annotated[str | None, typer.Option(help="when the audits are due (YYYY-MM-DD)")] = None,
    reaudit: Annotated[bool, typer.Option(help="admit cases the regular programme has audited")] = False,
    here: Annotated[bool, typer.Option(help="run the flow in this process instead of through the Prefect API")] = False,
) -> None:
    """Start a deep dive: a run of the deep-dive deployment through the Prefect API (its UI address is
    printed), or with --here the flow itself in this process."""
    settings = _settings(config)
    from pydantic import ValidationError

    from qaloop.programmes.deep_dive import DeepDiveRequest

    try:
        request = DeepDiveRequest(
            theme=theme, reason=reason, audit_types=audit_type or [], areas=area or [], teams=team or [],
            activity_from=activity_from, activity_to=activity_to, question=question, sample_size=size,
            due_date=due, allow_reaudit=reaudit,
        )  # fmt: skip
    except ValidationError as error:
        typer.secho(f"The deep dive cannot start: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    with _refusals(CycleError):
        request = request.resolved(settings)
    parameters = {"request": request.model_dump(mode="json"), "config": str(config) if config else None}
    if here:
        from flows.deep_dive import deep_dive

        summary = _finished(deep_dive(**parameters, return_state=True), "The deep dive")
        typer.echo(
            f"Deep dive {summary.cycle_ref}: {summary.selected} case(s) drawn of {summary.admitted} admitted, "
            f"{summary.allocated} allocated; {summary.emails_sent} email(s) sent."
        )
        return
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    from tasks.alerts import run_address

    if not PREFECT_API_URL.value():
        typer.secho(
            "No Prefect server is set (PREFECT_API_URL): start one with `make ui`, or use --here.", fg="red", err=True
        )
        raise typer.Exit(1)
    run = run_deployment("deep-dive/deep-dive", parameters=parameters, timeout=0)
    typer.echo(f"Deep dive requested: flow run {run.name} ({run.id}), {run.state.name if run.state else 'scheduled'}.")
    typer.echo(f"  {run_address(run.id)}")


@app.command("forms")
def forms_command(config: ConfigOption = None) -> None:
    """Put the configuration's audit types and areas into the deployed deep-dive form, as lists to choose from
    that the server holds every run to. Run it after each `prefect deploy` (`make ui` does)."""
    settings = _settings(config)
    from prefect.settings import PREFECT_API_URL

    from tasks.forms import FormsError, fill_forms

    if not PREFECT_API_URL.value():
        typer.secho("No Prefect server is set (PREFECT_API_URL): there are no forms to fill.", fg="red", err=True)
        raise typer.Exit(1)
    with _refusals(FormsError):
        offered = fill_forms(settings)
    typer.echo(
        f"The deep-dive form offers {offered['audit_types']} audit type choices and {offered['areas']} area choices"
        " (each by its label and its id)."
    )


@app.command("watch-runs")
def watch_runs_command(config: ConfigOption = None) -> None:
    """Email the QA team about each qaloop run not started `alerts.late_after_minutes` after its time, or crashed
    in the last day (once per run). Run it every few minutes from cron or a timer, on a machine other than the
    worker's."""
    settings = _settings(config)
    from prefect.settings import PREFECT_API_URL

    from tasks.alerts import alert_runs_in_trouble

    if not PREFECT_API_URL.value():
        typer.secho("No Prefect server is set (PREFECT_API_URL): there are no runs to watch.", fg="red", err=True)
        raise typer.Exit(1)
    sent = alert_runs_in_trouble(settings)
    typer.echo(f"{sent} late or crashed run(s) alerted to the QA team." if sent else "No run is late or crashed.")


@cycle_app.command("draw")
def cycle_draw(
    config: ConfigOption = None,
    on: SelectionDateOption = None,
    seed: SeedOption = None,
) -> None:
    """Draw and record a regular cycle's sample (a cycle already drawn is left as it is)."""
    settings = _settings(config)
    engine = engine_from(settings)
    selection_date = _date(on) if on else cycles.next_selection_date(settings.calendar, date.today())
    with _refusals(ValueError, CycleError):
        dates = cycles.cycle_dates(settings.calendar, selection_date)
        outcome = cycle_record.draw_cycle(engine, settings, dates, seed)
    if not outcome.drawn_now:
        typer.echo(f"Cycle {dates.cycle_ref} was already drawn; nothing changed.")
        return
    selection = outcome.selection
    assert selection is not None
    typer.echo(f"Cycle {dates.cycle_ref}, selected {dates.selection_date}, seed {selection.seed}:")
    for result in selection.strata:
        short = f", short by {result.shortfall}" if result.shortfall else ""
        typer.echo(
            f"  {result.stratum:<32} quota {result.quota:>4}  eligible {result.eligible:>6}  drawn {result.drawn:>4}  "
            f"reserves {result.reserves:>3}{short}"
        )
    for relaxation in selection.relaxations:
        typer.echo(f"  relaxed {relaxation.rule} for {relaxation.stratum}: {relaxation.added} more case(s)")


@cycle_app.command("explain")
def cycle_explain(
    cycle_ref: Annotated[str, typer.Argument(help="the cycle, e.g. 2026-09")],
    config: ConfigOption = None,
    case: Annotated[list[str] | None, typer.Option(help="show the reason for these case references")] = None,
) -> None:
    """Re-derive a cycle's sample from its stored inputs and show it is identical, with each case's reason."""
    settings = _settings(config)
    with _refusals(CycleError):
        explanation = explain_cycle(engine_from(settings), settings, cycle_ref)
    outcomes = explanation.outcomes
    if explanation.identical:
        typer.echo(f"Cycle {cycle_ref}: re-derived from its stored inputs, seed and rules: identical to the record.")
    else:
        typer.secho(f"Cycle {cycle_ref}: the re-derived sample differs from the record:", fg="red")
        for line in explanation.differences:
            typer.echo(f"  {line}")
    typer.echo("\nWhy cases were or were not drawn:")
    for reason, count in reason_counts(outcomes).items():
        typer.echo(f"  {count:>9,}  {reason}")
    for ref in case or []:
        found = outcomes[outcomes["case_ref"] == ref]
        detail = found.iloc[0]["reason"] if len(found) else "not in the cycle's case extract"
        typer.echo(f"  {ref}: {detail}")
    if not explanation.identical:
        raise typer.Exit(1)


MonthArgument = Annotated[str, typer.Argument(help="the month, YYYY-MM")]


@provider_app.command("propose")
def provider_propose(
    month: Annotated[str | None, typer.Argument(help="the month, YYYY-MM (default: the last month ended)")] = None,
    config: ConfigOption = None,
) -> None:
    """Propose and record each commissioned provider's threshold level for a month from the stored intelligence
    (known on the month's last day), with every reason; a month proposed before is kept as recorded."""
    from qaloop.providers import record

    settings = _settings(config)
    chosen = month or last_month(date.today())
    with _refusals(record.ProviderError, CycleError):
        placed = record.propose_month(engine_from(settings), settings, chosen, date.today())
    already = sum(1 for each in placed if each.recorded_before)
    before = f" ({already:,} recorded before)" if already else ""
    typer.echo(f"{chosen}: {len(placed):,} provider(s) proposed{before}")
    for level in (3, 2, 1):
        typer.echo(f"  level {level}: {sum(1 for each in placed if each.proposal.level == level):>6,}")
    _echo_movements(placed)


def _echo_movements(placed: list[Any]) -> None:
    """Each provider a month's proposals would move, and the rules behind it."""
    for each in placed:
        if each.movement != "same":
            rules = ", ".join(reason.rule for reason in each.proposal.reasons) or "no rule met"
            typer.echo(
                f"  {each.location_id:<14} would move {each.movement} from level {each.current_level} to "
                f"{each.proposal.level}: {rules}"
            )


@provider_app.command("explain")
def provider_explain(
    location_id: Annotated[str, typer.Argument(help="the provider's CQC location id")],
    month: MonthArgument,
    config: ConfigOption = None,
) -> None:
    """Show a provider's recorded proposal for a month with every reason and its rule version, derived again from
    the store, and the decision when one is recorded."""
    from qaloop.providers import record

    settings = _settings(config)
    with _refusals(record.ProviderError, CycleError):
        lines = record.explain(engine_from(settings), settings, location_id, month)
    typer.echo("\n".join(lines))


@provider_app.command("decide")
def provider_decide(
    location_id: Annotated[str, typer.Argument(help="the provider's CQC location id")],
    month: MonthArgument,
    level: Annotated[int, typer.Option(help="the level decided: 1, 2 or 3")],
    by: Annotated[str, typer.Option(help="who decided: the team manager's or the panel chair's staff id")],
    reason: Annotated[str, typer.Option(help="why, as the minutes record it")],
    jointly_with: Annotated[
        str | None, typer.Option(help="who at the ICB agreed it (required for a jointly commissioned service)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Record the decision on a provider's threshold level for a month (escalate, de-escalate or hold)."""
    from qaloop.providers import record

    settings = _settings(config)
    with _refusals(record.ProviderError, CycleError):
        said = record.decide(engine_from(settings), settings, location_id, month, level, by, reason, jointly_with)
    typer.echo(f"{location_id}, {month}: {said}")


@provider_app.command("report")
def provider_report(
    month: Annotated[str | None, typer.Argument(help="the month, YYYY-MM (default: the month last ended)")] = None,
    meeting: Annotated[str | None, typer.Option(help="the panel meeting the pack is for, YYYY-MM-DD")] = None,
    config: ConfigOption = None,
) -> None:
    """Write a month's market dashboard and panel pack (HTML and XLSX) and print where they are; the
    provider-review-pack deployment sends them before each panel meeting."""
    from qaloop.providers import market, record
    from qaloop.reporting.provider_reports import write_provider_reports

    settings = _settings(config)
    chosen = month or last_month(date.today())
    with _refusals(record.ProviderError, CycleError):
        figures = market.market_figures(engine_from(settings), settings, chosen, date.today())
    reports = write_provider_reports(settings, figures, _date(meeting) if meeting else None)
    typer.echo(f"{chosen}: {len(figures.pack):,} provider(s) for the panel")
    for path in (reports.pack, reports.pack_data, reports.dashboard, reports.dashboard_data):
        typer.echo(f"  {path}")


@provider_app.command("monitoring")
def provider_monitoring(
    day: Annotated[str | None, typer.Option(help="the day, YYYY-MM-DD (default: today)")] = None,
    config: ConfigOption = None,
) -> None:
    """Show what the monitoring each provider's level needs is overdue on a day, and what cannot be reckoned."""
    from qaloop.providers import monitoring, record

    settings = _settings(config)
    on = _date(day)
    with _refusals(record.ProviderError, CycleError):
        found = monitoring.read_monitoring(engine_from(settings), settings, on)
    overdue = found.overdue()
    typer.echo(f"{on}: {len(found.owed):,} item(s) owed, {len(overdue):,} overdue")
    for owed in overdue:
        level = found.levels.get(owed.location_id, 1)
        typer.echo(f"  {owed.location_id:<14} level {level}  {owed.what}: due {owed.due} ({owed.by.replace('_', ' ')})")
    if found.cannot_tell:
        typer.echo("Not reckoned:")
    for line in found.cannot_tell:
        typer.echo(f"  {line}")


@moderation_app.command("explain")
def moderation_explain(
    cycle_ref: Annotated[str, typer.Argument(help="the cycle, e.g. 2026-09")], config: ConfigOption = None
) -> None:
    """Draw a cycle's moderation sample again from its recorded audits, seed and rules, and show it is the
    same, with the reason each audit was drawn."""
    from qaloop.moderation.record import explain_moderation

    settings = _settings(config)
    with _refusals(CycleError):
        explanation = explain_moderation(engine_from(settings), settings, cycle_ref)
    if explanation.identical:
        typer.echo(f"Cycle {cycle_ref}: the moderation sample drawn again is identical to the record.")
    else:
        typer.secho(f"Cycle {cycle_ref}: the moderation sample drawn again differs from the record:", fg="red")
        for line in explanation.differences:
            typer.echo(f"  {line}")
    for row in explanation.sample.itertuples(index=False):
        typer.echo(f"  {row.case_ref:<14} {row.grade:<24} auditor {row.auditor_id:<10} {row.reason}")
    if not explanation.identical:
        raise typer.Exit(1)


@allocation_app.command("allocate")
def allocation_allocate(cycle_ref: CycleArgument = None, config: ConfigOption = None) -> None:
    """Give each selected case of a cycle its service manager and auditor (cases already allocated stay)."""
    settings = _settings(config)
    with _refusals(CycleError):
        cycle_ref = cycle_ref or latest_cycle_ref(engine_from(settings), settings)
        assignments = allocation_record.allocate_cycle(engine_from(settings), settings, cycle_ref)
    waiting = [a for a in assignments if a.auditor_id is None]
    typer.echo(f"Cycle {cycle_ref}: {len(assignments) - len(waiting)} case(s) allocated, {len(waiting)} waiting.")
    for assignment in waiting:
        typer.echo(f"  {assignment.case_ref}: {assignment.note}")
    if waiting:
        raise typer.Exit(1)


@allocation_app.command("move")
def allocation_move(
    cycle_ref: Annotated[str, typer.Argument(help="the cycle, e.g. 2026-09")],
    case_ref: Annotated[str, typer.Argument(help="the case to move")],
    reason: Annotated[str, typer.Option(help="why: kept with the allocation's history")],
    to: Annotated[str | None, typer.Option(help="the staff id of the new auditor")] = None,
    replace: Annotated[bool, typer.Option(help="replace the case with its stratum's next reserve")] = False,
    by: Annotated[str, typer.Option(help="who decided (a service manager's staff id or name)")] = "service manager",
    config: ConfigOption = None,
) -> None:
    """Move a case to another auditor, or replace it from the reserves, as a service manager decided."""
    if (to is None) == (not replace):
        typer.secho("Give either --to STAFF_ID or --replace.", fg="red", err=True)
        raise typer.Exit(2)
    settings = _settings(config)
    with _refusals(CycleError):
        done = allocation_record.move_allocation(
            engine_from(settings), settings, cycle_ref, case_ref, reason=reason, actor=by, to_auditor=to
        )
    typer.echo(done)


@allocation_app.command("substitute")
def allocation_substitute(
    cycle_ref: Annotated[str, typer.Argument(help="the cycle, e.g. 2026-09")],
    case_ref: Annotated[str, typer.Argument(help="the case")],
    staff_id: Annotated[str, typer.Argument(help="the staff id of the auditor standing in")],
    reason: Annotated[str, typer.Option(help="why: kept with the allocation's history")],
    by: Annotated[str, typer.Option(help="who decided")] = "QA team",
    config: ConfigOption = None,
) -> None:
    """Record an auditor who may return a case's audit in place of the allocated one (leave, sickness)."""
    settings = _settings(config)
    with _refusals(CycleError):
        done = allocation_record.record_substitute(
            engine_from(settings), settings, cycle_ref, case_ref, staff_id, reason=reason, actor=by
        )
    typer.echo(done)


@action_app.command("close")
def action_close(
    action_id: Annotated[int, typer.Argument(help="the action's number, as in the email that opened it")],
    evidence: Annotated[str, typer.Option(help="what was done: the evidence of completion")],
    by: Annotated[str, typer.Option(help="who closes it")] = "QA team",
    config: ConfigOption = None,
) -> None:
    """Close an open corrective action with its evidence."""
    from qaloop.returns.follow_up import ActionError, close_action

    settings = _settings(config)
    with _refusals(ActionError):
        typer.echo(close_action(engine_from(settings), action_id, evidence, by))


@action_app.command("confirm")
def action_confirm(
    action_id: Annotated[int, typer.Argument(help="the action's number, as in the email that opened it")],
    by: Annotated[str, typer.Option(help="the staff id of the service manager confirming it")],
    config: ConfigOption = None,
) -> None:
    """Record a service manager's confirmation of a corrective action and its due date."""
    from qaloop.returns.follow_up import ActionError, confirm_action

    settings = _settings(config)
    with _refusals(ActionError):
        typer.echo(confirm_action(engine_from(settings), action_id, by))


OnOption = Annotated[str | None, typer.Option(help="the day to act as, YYYY-MM-DD (default: today)")]


@returns_app.command("ingest")
def returns_ingest(config: ConfigOption = None, on: OnOption = None) -> None:
    """Run the ingest-returns flow now: file what is waiting in the drop folder and send what follows."""
    _settings(config)
    from flows.ingest_returns import ingest_returns  # Prefect is slow to import: only here

    done = ingest_returns(config=str(config) if config else None, today=_date(on))
    typer.echo(
        f"{done.files} file(s): {done.filed} filed, {done.held} held, {done.quarantined_files} file(s) and "
        f"{done.rows_not_filed} row(s) not filed; {done.emails_sent} email(s) sent"
    )


@returns_app.command("chase")
def returns_chase(config: ConfigOption = None, on: OnOption = None) -> None:
    """Run the chase-deadlines flow now: the day's reminders, escalations and overdue summary."""
    _settings(config)
    from flows.chase_deadlines import chase_deadlines  # Prefect is slow to import: only here

    done = chase_deadlines(config=str(config) if config else None, today=_date(on))
    typer.echo(
        f"{done.reminders} reminder(s) and escalation(s) in {done.emails_queued} email(s) queued; "
        f"{done.emails_sent} email(s) sent by this run (whatever had queued them); {done.overdue_items} overdue"
    )


@cycle_app.command("notify")
def cycle_notify(cycle_ref: CycleArgument = None, config: ConfigOption = None) -> None:
    """Queue the emails of every allocated case not yet notified (auditor, practitioner, service manager)."""
    settings = _settings(config)
    with _refusals(CycleError):
        cycle_ref = cycle_ref or latest_cycle_ref(engine_from(settings), settings)
        queued = notices.notify_cycle(engine_from(settings), settings, cycle_ref)
    typer.echo(
        f"Cycle {cycle_ref}: {queued} message(s) queued; workbooks in {settings.output_dir / 'cycles' / cycle_ref}"
    )


@app.command("demo-returns")
def demo_returns(
    config: ConfigOption = None,
    cycle_ref: Annotated[str | None, typer.Option("--cycle", help="the cycle (default: the latest one)")] = None,
) -> None:
    """Play out the demo cycle's returns, chasing and moderation: files arrive on their days, the
    ingest-returns, chase-deadlines and moderation flows run on each, and what happened is printed."""
    settings = _settings(config)
    from flows.chase_deadlines import chase_deadlines  # Prefect is slow to import: only here
    from flows.ingest_returns import ingest_returns
    from flows.moderation import moderation
    from qaloop.core.working_days import add_working_days
    from qaloop.demo.returns import cycle_cases, moderations_on, plan_returns, returns_on

    engine = engine_from(settings)
    with _refusals(CycleError):
        cycle_ref = cycle_ref or latest_cycle_ref(engine, settings)
        dates = stored_dates(engine, settings, cycle_ref)
    plans = plan_returns(settings, cycle_ref, cycle_cases(engine, settings, cycle_ref))
    arguments = {"config": str(config) if config else None}
    days = sorted(
        {
            add_working_days(dates.self_reflection_due, -1): "ingest",
            add_working_days(dates.audit_due, -3): "chase",
            dates.audit_due: "ingest and chase",
            add_working_days(dates.audit_due, 2): "chase",
            add_working_days(dates.audit_due, 3): "ingest",
            add_working_days(dates.audit_due, 5): "chase",
        }.items()
    )
    for day, what in days:
        if "ingest" in what:
            dropped = returns_on(settings, plans, dates, day)
            done = ingest_returns(**arguments, today=day)
            typer.echo(
                f"{day:%a %d %b %Y}  ingest-returns: {len(dropped)} file(s) arrived: {done.filed} filed, "
                f"{done.held} held as a second return, {done.quarantined_files} file(s) and {done.rows_not_filed} "
                f"row(s) not filed; {done.emails_sent} email(s) sent"
            )
        if "chase" in what:
            chased = chase_deadlines(**arguments, today=day)
            typer.echo(
                f"{day:%a %d %b %Y}  chase-deadlines: {chased.reminders} reminder(s) and escalation(s) in "
                f"{chased.emails_queued} email(s), {chased.emails_sent} sent; {chased.overdue_items} item(s) overdue"
            )
    drawn_on = add_working_days(dates.audit_due, 6)
    drawn = moderation(**arguments, today=drawn_on)
    typer.echo(
        f"{drawn_on:%a %d %b %Y}  moderation: {drawn.drawn.get(cycle_ref, 0)} audit(s) drawn and sent to practice leads"
    )
    moderated_on = add_working_days(drawn_on, 5)
    forms = moderations_on(settings, cycle_ref, moderated_on)
    done = ingest_returns(**arguments, today=moderated_on)
    typer.echo(f"{moderated_on:%a %d %b %Y}  ingest-returns: {len(forms)} moderation form(s) back, {done.filed} filed")
    moderation(**arguments, today=add_working_days(moderated_on, 1))
    _print_agreement(engine, settings, cycle_ref)
    with engine.connect() as connection:
        actions = connection.execute(
            select(models.CorrectiveAction.reason, func.count()).group_by(models.CorrectiveAction.reason)
        ).all()
    never = sum(1 for plan in plans if plan.audit is None)
    typer.echo(f"Corrective actions open: {dict(actions) or 'none'}; audits never returned: {never}")
    typer.echo(f"Returned files: {settings.returns.processed} and {settings.returns.quarantine}")


def _print_agreement(engine: Any, settings: Settings, cycle_ref: str) -> None:
    """The cycle's agreement with moderation, overall and by audit type, as kept for the cycle report."""
    figure = models.AgreementFigure
    with engine.connect() as connection:
        rows = connection.execute(
            select(figure.__table__)
            .join(models.AuditCycle, models.AuditCycle.id == figure.cycle_id)
            .where(models.AuditCycle.cycle_ref == cycle_ref, figure.grouping.in_(("overall", "audit_type")))
            .order_by(figure.grouping.desc(), figure.group_value)
        ).all()
    typer.echo(f"\nAgreement with moderation, cycle {cycle_ref}:")
    headings = f"{'audits':>6} {'exact':>12} {'within 1':>8} {'higher':>7} {'lower':>6}  weighted kappa (95% interval)"
    typer.echo(f"  {'':<36} {headings}")
    for row in rows:
        if row.grouping == "audit_type" and row.group_value == "all":
            continue  # the overall row says it
        kappa = kappa_said(
            row.audits, row.exact, row.kappa, row.kappa_low, row.kappa_high, settings.moderation.kappa_min_audits
        )
        name = "all audits" if row.grouping == "overall" else settings.audit_type(row.group_value).label
        exact = f"{round(row.exact * row.audits)} ({row.exact:.0%})"
        typer.echo(
            f"  {name:<36} {row.audits:>6} {exact:>12} {row.within_one:>8.0%} "
            f"{row.auditor_higher:>7.0%} {row.auditor_lower:>6.0%}  {kappa}"
        )


@app.command("send")
def send(
    config: ConfigOption = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="first put back the emails the server refused (given up, or partly sent), to their current "
            "addresses in the staff list",
        ),
    ] = False,
) -> None:
    """Send every queued email through the configured SMTP server, at the configured rate."""
    settings = _settings(config)
    if retry_failed:
        retried = undelivered.retry_undelivered(engine_from(settings))
        typer.echo(
            f"Put back: {retried.requeued} email(s) given up, {retried.resent} partly sent one(s) to their "
            "corrected recipients."
        )
        if retried.uncorrected:
            typer.secho(
                "Still at the address the server refused (correct it in the staff list and load it): "
                + ", ".join(retried.uncorrected),
                fg="yellow",
            )

    def progress(done: int, of: int) -> None:
        if done % 50 == 0 or done == of:
            typer.echo(f"  {done}/{of} sent")

    try:
        summary = outbox.send_queued(engine_from(settings), settings.email, on_progress=progress)
    except outbox.MailServerUnreachable as error:
        said = str(error)
        typer.secho(f"{said[:1].upper()}{said[1:]}. Nothing more was sent.", fg="red", err=True)
        raise typer.Exit(1) from None
    except OSError as error:  # the session dropped part way
        where = f"{settings.email.smtp_host}:{settings.email.smtp_port}"
        typer.secho(
            f"The mail server at {where} dropped the session: {error}. The rest stays queued.", fg="red", err=True
        )
        raise typer.Exit(1) from None
    typer.echo(f"{summary.sent} sent, {summary.refused} refused by the server, {summary.still_queued} still queued.")
    if summary.partly_sent:
        typer.secho(
            f"{summary.partly_sent} of them reached only some of their recipients: the server refused the others "
            "(`qaloop doctor` and the QA team's daily summary list them; correct the addresses in the staff list, "
            "then `qaloop send --retry-failed`).",
            fg="yellow",
        )
    if summary.cannot_be_built:
        typer.secho(
            f"{summary.cannot_be_built} email(s) could not be built (each given up with its reason; the rest went): "
            "`qaloop doctor` lists them.",
            fg="yellow",
        )
    if summary.daily_cap_reached:
        typer.secho(
            f"The relay's daily cap is reached ({settings.email.recipients_per_day:,} recipients in 24 hours): "
            "the rest stays queued and goes as the 24 hours allow.",
            fg="yellow",
        )
    if summary.stopped_by:
        typer.echo(f"Stopped on request ({summary.stopped_by}); run `qaloop send` again to send the rest.")
        raise typer.Exit(1)


@app.command("mail-sink")
def mail_sink(
    config: ConfigOption = None,
    seconds: Annotated[float | None, typer.Option(help="stop after this long (default: until interrupted)")] = None,
) -> None:
    """Run a local SMTP server on the configured host and port that saves each message as a .eml file."""
    import time

    from qaloop.demo.mail_sink import start_sink

    settings = _settings(config)
    folder = settings.output_dir / "mail"
    sink = start_sink(folder, settings.email.smtp_host, settings.email.smtp_port)
    typer.echo(f"Mail sink on {settings.email.smtp_host}:{settings.email.smtp_port}, saving to {folder}")
    try:
        time.sleep(seconds or 10**9)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


def _date(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def main() -> None:
    """The `qaloop` command: a user error is a plain message and exit code 1, never a traceback, unless
    `--debug` (anywhere on the command line) asks for one."""
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except Exception as error:  # the last line before a user would meet a traceback
        if debug:
            raise
        reason = str(error).strip() or type(error).__name__
        typer.secho(f"qaloop stopped: {reason}", fg="red", err=True)
        typer.secho("Run the same command with --debug to see where it happened.", err=True)
        raise SystemExit(1) from None
