"""Alerts to the QA team when a run of one of qaloop's flows fails, has not started long after its time, or
waits for the QA team's approval: one email per run, naming the flow, the run, where to see it in the Prefect
UI and what is wrong, or wanted, in plain words."""

from __future__ import annotations

from qaloop.core.quoting import brief, first_lines
from qaloop.core.settings import Settings
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message


def failure_message(
    settings: Settings, flow: str, run_name: str, run_id: str, address: str, error: str, *, crashed: bool = False
) -> Message:
    """The QA team's alert for one failed or crashed run (keyed by the run, so it is sent once however often it
    is queued, and whether its own hook or `qaloop watch-runs` queues it)."""
    ended = "crashed" if crashed else "failed"
    return _message(
        settings, "failed", f"qaloop: the {flow} run {run_name} {ended}", flow, run_name, run_id, address, error,
        ended=ended,
    )  # fmt: skip


def late_message(settings: Settings, flow: str, run_name: str, run_id: str, address: str, minutes: int) -> Message:
    """The QA team's alert for one run that has not started ``minutes`` after its time (sent once per run)."""
    error = (
        f"It was due to start {minutes} minutes ago and has not. Usually the worker is not running "
        "(`prefect worker start --pool qaloop`), or the work pool or its queue is paused."
    )
    subject = f"qaloop: the {flow} run {run_name} has not started"
    return _message(settings, "late", subject, flow, run_name, run_id, address, error)


def approval_message(
    settings: Settings, cycle_ref: str, run_name: str, run_id: str, address: str, drawn: int, strata: int
) -> Message:
    """The QA team's call to approve a drawn sample in the Prefect UI (sent once per run)."""
    error = (
        f"Cycle {cycle_ref} is drawn ({drawn} cases in {strata} strata) and waits for your approval before anything "
        "is allocated or sent. Open the run, look at the sample in its artifacts, then choose Resume: approve, and "
        "list any case to leave out with the reason (each is replaced by the next reserve of its stratum). The form "
        "offers only this sample's cases and asks a reason for each; a mistake is refused and the run stays paused."
    )
    subject = f"qaloop: cycle {cycle_ref} waits for your approval"
    return _message(settings, "approval", subject, "audit-cycle", run_name, run_id, address, error)


def panel_recipients(settings: Settings) -> tuple[list[str], str]:
    """The quality review panel's members and how to greet them; the QA team when no panel is configured."""
    panel = settings.provider_quality.panel if settings.provider_quality else []
    return [str(address) for address in panel or settings.email.qa_team], (
        "quality review panel" if panel else "QA team"
    )


def decisions_message(
    settings: Settings, month: str, run_name: str, run_id: str, address: str, proposed: int, moving: int
) -> Message:
    """The quality review panel's call to record its decisions on a month's levels in the Prefect UI (sent once
    per run), to the panel's members (the QA team when none are configured)."""
    error = (
        f"The threshold levels of {proposed} commissioned provider(s) for {month} are proposed, {moving} of them a "
        "move up or down, and wait for the panel's decisions. Open the run, look at the levels and every reason in "
        "its artifacts, then choose Resume: a row per decision (the provider, chosen from this month's; the level; "
        "the reason; who at the ICB agreed it, for a jointly commissioned service) and who decided. A mistake is "
        "refused and the run stays paused."
    )
    subject = f"qaloop: the providers' levels for {month} wait for the panel's decisions"
    recipients, greeting = panel_recipients(settings)
    return _message(
        settings, "decisions", subject, "provider-intelligence", run_name, run_id, address, error,
        to=recipients, greeting=greeting,
    )  # fmt: skip


# An alert quotes this much of what went wrong; a failure's message may carry a whole file (the rest is in the
# run's log in the Prefect UI).
_QUOTED_CHARACTERS = 2_000


def _quoted(error: str) -> str:
    said = error.strip()
    if not said:
        return "Prefect gave no message."
    if len(said) <= _QUOTED_CHARACTERS:
        return said
    return (
        first_lines(brief(said, _QUOTED_CHARACTERS), 30)
        + f"\n(cut here: {len(said):,} characters in all, every one of them in the run's log)"
    )


def _message(
    settings: Settings,
    what: str,
    subject: str,
    flow: str,
    run_name: str,
    run_id: str,
    address: str,
    error: str,
    ended: str = "failed",
    to: list[str] | None = None,
    greeting: str = "QA team",
) -> Message:
    context = {
        "greeting": greeting,
        "ended": ended,
        "flow": flow,
        "run_name": run_name,
        "address": address,
        "error": _quoted(error),
        "what": what,
    }
    return compose(
        settings,
        "run_alert",
        key=("alert", what, run_id),
        kind=f"run_{what}",
        to=to or [str(address) for address in settings.email.qa_team],
        subject=subject,
        context=context,
    )
