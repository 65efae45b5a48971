"""Alerts to the QA team when a run of one of qaloop's flows fails: one email per failed run, naming the
flow, the run, where to see it in the Prefect UI and what went wrong in plain words."""

from __future__ import annotations

from qaloop.cycle_messages import render
from qaloop.outbox import Message
from qaloop.settings import Settings


def failure_message(settings: Settings, flow: str, run_name: str, run_id: str, address: str, error: str) -> Message:
    """The QA team's alert for one failed run (keyed by the run, so it is sent once however often it is queued)."""
    subject = f"qaloop: the {flow} run {run_name} failed"
    context = {
        "authority": settings.authority.name,
        "from_name": settings.email.from_name,
        "subject": subject,
        "flow": flow,
        "run_name": run_name,
        "address": address,
        "error": error.strip() or "Prefect gave no message.",
    }
    html, text = render("run_failed", context)
    return Message(
        key=f"{settings.authority.code}/alert/{run_id}",
        kind="run_failed",
        to=tuple(str(address) for address in settings.email.qa_team),
        subject=subject,
        html=html,
        text=text,
    )
