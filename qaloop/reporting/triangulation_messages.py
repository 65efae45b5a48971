"""The QA team's monthly triangulation email: the teams and areas where sources converge, with the month's
tables attached as a workbook (written under ``output/triangulation``)."""

from __future__ import annotations

import pandas as pd

from qaloop.core.settings import Settings
from qaloop.messaging.compose import compose
from qaloop.messaging.outbox import Message
from qaloop.reporting.triangulation import TriangulationResult


def triangulation_message(settings: Settings, result: TriangulationResult) -> Message:
    """The email for ``result``'s window (one per window: its key is the window's first day)."""
    window = result.window
    path = settings.output_dir / "triangulation" / f"triangulation-{window.start:%Y-%m}-to-{window.end:%Y-%m}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in (("Flagged", result.flagged), ("Teams", result.teams), ("Areas", result.areas),
                            ("Themes", result.themes)):  # fmt: skip
            table.to_excel(writer, sheet_name=name, index=False)
    subject = f"Triangulation, {window.label}: {len(result.flagged)} team(s) or area(s) flagged"
    context = {
        "window": window.label,
        "flagged": result.flagged.to_dict("records"),
        "rising": result.themes[result.themes["rising"]]["theme"].tolist(),
        "min_sources": settings.triangulation.min_sources,
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
