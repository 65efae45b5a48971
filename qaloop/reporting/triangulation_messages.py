"""The QA team's monthly triangulation email: the teams and areas where sources converge, with the month's
tables attached as a workbook (written under ``output/triangulation``)."""

from __future__ import annotations

from qaloop.core.outputs import write_sheets
from qaloop.core.settings import Settings
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.reporting.triangulation import TriangulationResult


def triangulation_message(settings: Settings, result: TriangulationResult) -> Message:
    """The email for ``result``'s window (one per window: its key is the window's first day)."""
    window = result.window
    path = settings.output_dir / "triangulation" / f"triangulation-{window.start:%Y-%m}-to-{window.end:%Y-%m}.xlsx"
    write_sheets(
        path,
        {
            "Flagged": result.flagged,
            "Teams": result.teams,
            "Areas": result.areas,
            "Themes": result.themes,
            "Method": result.methods,
        },
    )
    subject = f"Triangulation, {window.label}: {len(result.flagged)} team(s) or area(s) flagged"
    context = {
        "window": window.label,
        "flagged": result.flagged.to_dict("records"),
        "rising": result.themes[result.themes["rising"]]["theme"].tolist(),
        "min_sources": settings.triangulation.min_sources,
        "confidence": settings.triangulation.confidence,
        "methods": result.methods[result.methods["level"] == "team"].to_dict("records"),
    }
    return compose(
        settings,
        "triangulation",
        key=("triangulation", window.start),
        to=[str(address) for address in settings.email.qa_team],
        subject=subject,
        context=context,
        attachments=[path],
    )
