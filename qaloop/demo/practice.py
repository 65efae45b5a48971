"""How good the demo county's practice is, cycle by cycle: the one model its past audits and its simulated
returns are both drawn from, so that the reports have something real to find.

Each team has its own standing (a fixed difference from the county's centre, the same for the same team
name); one team's practice drifts down over the cycles (``DRIFT_PER_CYCLE`` grades a cycle), one area's
steps up when it took on a new practice model ``STEP_CYCLES_AGO`` cycles before the demo's own cycle, and the
Mental Capacity Act audit type joined the programme ``MCA_CYCLES`` cycles before it, so its chart has too few
points for a reading. Auditors answer each audit-tool question short of the standard more often the lower
the grade they give.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qaloop.core.settings import Settings

DRIFT_PER_CYCLE = 0.1
DRIFT_STARTS_AT = 0.3  # the drifting team starts a little above the county, so its fall shows
STEP = 0.8
STEP_CYCLES_AGO = 8
MCA_TYPE, MCA_CYCLES = "mca_assessment", 6
GRADE_SPREAD = 0.9
TEAM_SPREAD = 0.4
# The chance that an auditor answers a question short of the standard, by how far the grade is above the
# lowest (0: the lowest), for the tool's questions in turn: the later questions (impact, recording) harder.
SHORT_AT_LOWEST, SHORT_FALLS_BY = 0.6, 0.45


@dataclass(frozen=True)
class Practice:
    """The demo county's practice: the centre grade (a rank, fractional), each team's standing, the team that
    drifts, the area that steps up, and the index of the demo's own cycle (the oldest past cycle is 0)."""

    centre: float
    levels: int
    standing: Mapping[str, float]
    drifting_team: str
    stepped_area: str
    latest: int

    def centre_for(self, area: str, team: str, cycle: int) -> float:
        """The mean grade rank of a case audited in ``cycle`` from ``team`` in ``area`` (by name)."""
        centre = self.centre + self.standing.get(team, 0.0)
        if team == self.drifting_team:
            centre -= DRIFT_PER_CYCLE * cycle
        if area == self.stepped_area and cycle > self.latest - STEP_CYCLES_AGO:
            centre += STEP
        return centre

    def grade(self, rng: np.random.Generator, area: str, team: str, cycle: int) -> int:
        """A grade rank drawn about the team's centre in ``cycle``."""
        return int(np.clip(np.floor(rng.normal(self.centre_for(area, team, cycle), GRADE_SPREAD)), 0, self.levels - 1))

    def audited(self, audit_type: str, cycle: int) -> bool:
        """Whether audits of ``audit_type`` were part of the programme in ``cycle``."""
        return audit_type != MCA_TYPE or cycle > self.latest - MCA_CYCLES


def practice(settings: Settings, teams: Iterable[tuple[str, str]], latest: int) -> Practice:
    """The demo county's practice for its ``teams`` (area name, team name), with its own cycle ``latest``."""
    labels = settings.grade_scale.labels
    known = sorted(set(teams))
    areas = [area.name for area in settings.authority.areas]
    first_area = [team for area, team in known if area == areas[0]]
    drifting = first_area[0] if first_area else ""
    return Practice(
        centre=labels.index(settings.grade_scale.standard) + 0.9,
        levels=len(labels),
        standing={team: DRIFT_STARTS_AT if team == drifting else _standing(team) for _, team in known},
        drifting_team=drifting,
        stepped_area=areas[1] if len(areas) > 1 else areas[0],
        latest=latest,
    )


def _standing(team: str) -> float:
    # Seeded by the team's name, so the history and the demo's returns give a team the same standing.
    return float(np.random.default_rng(zlib.crc32(team.encode())).normal(0, TEAM_SPREAD))


def answers(rng: np.random.Generator, rank: int, questions: Sequence[str], options: Sequence[str]) -> dict[str, str]:
    """An auditor's answer to each question for an audit graded ``rank``: the answer short of the standard
    (the last option that is not "not applicable") the more often the lower the grade, else the first."""
    short = [option for option in options if "applicable" not in option.casefold()][-1]
    found = {}
    for index, question in enumerate(questions):
        chance = SHORT_AT_LOWEST * SHORT_FALLS_BY**rank * (1 + 0.5 * index / max(1, len(questions) - 1))
        found[question] = short if rng.random() < min(chance, 0.95) else options[0]
    return found
