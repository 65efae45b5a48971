"""Moderation: which submitted audits practice leads re-judge, and which practice lead judges each.

The sample is ceil(share x submitted audits). It is drawn in a weighted random order (each audit's random
key is a keyed hash of its return and the seed, so the same seed and audits give the same sample): audits
below the standard line or at the top grade count ``weight`` times, as those grades matter most. So that
every grade and every auditor is represented where the size allows, the first picks are, in that order,
the best-placed audit of each grade, then of each auditor not yet represented; the rest follow the order.

Each sampled audit goes to a practice lead who is not its auditor and not in the team of the case or of
the auditor, the least loaded first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qaloop.core.settings import GradeScale
from qaloop.programmes.selection import random_keys

RULE_VERSION = "moderation-1"


def priorities(return_ids: pd.Series, weights: np.ndarray, seed: int) -> np.ndarray:
    """Weighted random priorities (Efraimidis-Spirakis): higher first; reproducible from the seed."""
    uniform = (random_keys(return_ids.astype(str), seed).astype(np.float64) + 1.0) / 2.0**64
    return uniform ** (1.0 / weights)


def sample_size(share: float, submitted: int) -> int:
    """How many of ``submitted`` audits are moderated: ceil(share x submitted), never more than there are."""
    return min(submitted, math.ceil(round(share * submitted, 9)))


def draw_moderation_sample(
    audits: pd.DataFrame, share: float, weight: float, scale: GradeScale, seed: int
) -> pd.DataFrame:
    """The audits to moderate, in the order drawn, each with the reason it was drawn.

    ``audits`` has one row per submitted audit: ``return_id``, ``auditor_id``, ``grade`` (on ``scale``).
    """
    n = sample_size(share, len(audits))
    frame = audits.reset_index(drop=True).copy()
    frame["stressed"] = frame["grade"].map(lambda g: scale.below_standard(g) or g == scale.labels[-1]).astype(bool)
    frame["priority"] = priorities(frame["return_id"], np.where(frame["stressed"], weight, 1.0), seed)
    frame = frame.sort_values(["priority", "return_id"], ascending=[False, True]).reset_index(drop=True)
    chosen: dict[int, str] = {}
    for grade in scale.labels:
        of_grade = frame[frame["grade"] == grade]
        if len(chosen) < n and len(of_grade):
            chosen.setdefault(int(of_grade["return_id"].iloc[0]), f"represents the grade {grade}")
    for auditor, theirs in frame.groupby("auditor_id", sort=False):
        if len(chosen) >= n:
            break
        if not set(theirs["return_id"].astype(int)) & set(chosen):
            chosen[int(theirs["return_id"].iloc[0])] = f"represents auditor {auditor}"
    for return_id, is_stressed in zip(frame["return_id"].astype(int), frame["stressed"], strict=True):
        if len(chosen) >= n:
            break
        chosen.setdefault(return_id, f"drawn at random (weight {weight:g})" if is_stressed else "drawn at random")
    picked = frame[frame["return_id"].astype(int).isin(chosen)].copy()
    picked["reason"] = picked["return_id"].astype(int).map(chosen)
    return picked.drop(columns=["priority", "stressed"]).reset_index(drop=True)


@dataclass(frozen=True)
class ModerationAssignment:
    """One sampled audit and the practice lead who moderates it (None, with a note, if nobody may)."""

    return_id: int
    moderator_id: str | None
    note: str | None = None


def allocate_moderators(sample: pd.DataFrame, moderators: pd.DataFrame) -> list[ModerationAssignment]:
    """Give each sampled audit a moderator, the least loaded first (ties by staff id).

    ``sample``: ``return_id``, ``auditor_id``, ``auditor_team``, ``case_team``; ``moderators``: ``staff_id``,
    ``team`` (blank for those above team level). Never the audit's own auditor, never someone in the case's
    team or the auditor's team.
    """
    load = {staff_id: 0 for staff_id in sorted(moderators["staff_id"])}
    team_of = dict(zip(moderators["staff_id"], moderators["team"], strict=True))
    assignments = []
    for row in sample.itertuples(index=False):
        barred = {team for team in (row.auditor_team, row.case_team) if not pd.isna(team)}
        eligible = [
            staff_id
            for staff_id in load
            if staff_id != row.auditor_id and (pd.isna(team_of[staff_id]) or team_of[staff_id] not in barred)
        ]
        if not eligible:
            assignments.append(ModerationAssignment(int(row.return_id), None, "no practice lead may moderate it"))
            continue
        moderator = min(eligible, key=lambda staff_id: (load[staff_id], staff_id))
        load[moderator] += 1
        assignments.append(ModerationAssignment(int(row.return_id), moderator))
    return assignments
