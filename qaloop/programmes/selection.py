"""Selection: draw a cycle's sample of cases, stratum by stratum, at random but reproducibly.

The rules: strata of area x audit type with quotas; only cases with recorded
activity in the look-back window; never a case the regular programme has audited; never a worker audited
in each of the last N cycles; at most ``cases_per_worker`` cases of one worker per cycle; reserves drawn per
stratum. Where a stratum runs short, rules are relaxed one at a time in the configured order for that
stratum only, and each relaxation is recorded. "Already audited" is never relaxed.

Every case gets a random key from a keyed hash of its reference and the seed, so the sample depends only
on the seed, the rules and the data, not on the order of the extract's rows: anyone with the same inputs
re-derives the same sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from qaloop.core.settings import RelaxableRule, SelectionRules
from qaloop.programmes.eligibility import (
    eligibility,
    eligible,
    passes,
    relaxed_note,
    strata,
    stratum_of,
    worker_cap,
)
from qaloop.programmes.eligibility import (
    reasons as why_not_drawn,
)

RULE_VERSION = "selection-1"

DRAWN = "drawn"
RESERVE = "reserve"
NOT_DRAWN = "not drawn"


def stratum_quotas(
    population: pd.DataFrame,
    areas: Sequence[str],
    audit_types: Sequence[str],
    audits_per_area: int,
    type_shares: Mapping[str, float] | None,
) -> dict[str, int]:
    """Audits per stratum: each area's ``audits_per_area`` split across audit types.

    The split follows ``type_shares`` when given, else each type's share of the area's ``population``
    (a frame with ``area`` and ``audit_type`` columns, usually the eligible cases). Rounding is by largest
    remainder, so each area's quotas add up to ``audits_per_area`` exactly (when it has any cases at all).
    """
    counts = population.groupby(["area", "audit_type"]).size() if len(population) else pd.Series(dtype=int)
    quotas: dict[str, int] = {}
    for area in areas:
        if type_shares is not None:
            shares = [type_shares.get(audit_type, 0.0) for audit_type in audit_types]
        else:
            in_area = [int(counts.get((area, audit_type), 0)) for audit_type in audit_types]
            total = sum(in_area)
            shares = [n / total if total else 0.0 for n in in_area]
        for audit_type, quota in zip(audit_types, _split(audits_per_area, shares), strict=True):
            quotas[stratum_of(area, audit_type)] = quota
    return quotas


def proportional_quotas(population: pd.DataFrame, total: int) -> dict[str, int]:
    """``total`` audits split across the strata (area x audit type) of ``population`` in proportion to their
    cases, by largest remainder, so they add up to ``total`` (a deep dive's sample)."""
    counts = population.groupby(["area", "audit_type"]).size() if len(population) else pd.Series(dtype=int)
    keys = [stratum_of(area, audit_type) for area, audit_type in counts.index]
    return dict(zip(keys, _split(total, [n / counts.sum() for n in counts]), strict=True))


def _split(total: int, shares: Sequence[float]) -> list[int]:
    """``total`` split by ``shares`` into whole numbers adding up to ``total`` (largest remainder first)."""
    raw = [total * share for share in shares]
    floors = [math.floor(value) for value in raw]
    remaining = (total - sum(floors)) if sum(shares) > 0 else 0
    by_remainder = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for index in by_remainder[:remaining]:
        floors[index] += 1
    return floors


@dataclass(frozen=True)
class Relaxation:
    """A rule relaxed for one stratum because it ran short, and how many cases that added."""

    stratum: str
    rule: RelaxableRule
    added: int


@dataclass(frozen=True)
class StratumResult:
    """One stratum's outcome: its quota, how many cases were eligible, drawn and held in reserve."""

    stratum: str
    quota: int
    eligible: int
    drawn: int
    reserves: int

    @property
    def shortfall(self) -> int:
        return max(0, self.quota - self.drawn)


@dataclass(frozen=True)
class Selection:
    """A cycle's sample, with everything needed to show it was drawn fairly and to re-derive it.

    ``drawn`` and ``reserves`` have columns ``case_ref``, ``stratum``, ``worker_id``, ``rank`` (the order
    drawn within the stratum, from 1) and ``relaxed`` (the rules relaxed when it was drawn, comma-separated,
    empty when none). ``outcomes`` (only when asked for) has, for every case in the extract, ``case_ref``,
    ``stratum``, ``outcome`` (drawn / reserve / not drawn) and ``reason`` in plain words.
    """

    seed: int
    rule_version: str
    drawn: pd.DataFrame
    reserves: pd.DataFrame
    strata: list[StratumResult]
    relaxations: list[Relaxation]
    outcomes: pd.DataFrame | None = field(default=None, compare=False)


def random_keys(case_refs: pd.Series, seed: int) -> np.ndarray:
    """A random but reproducible key per case: a keyed hash of the reference and the seed."""
    hash_key = f"{seed % 10**16:016d}"
    return pd.util.hash_pandas_object(case_refs.astype(str), index=False, hash_key=hash_key).to_numpy()


def select_cases(
    cases: pd.DataFrame,
    quotas: Mapping[str, int],
    rules: SelectionRules,
    as_of: date,
    seed: int,
    audited: Iterable[str] = (),
    recent_cycles: Sequence[Iterable[str]] = (),
    explain: bool = False,
) -> Selection:
    """Draw the sample.

    ``cases`` has ``case_ref``, ``area``, ``audit_type``, ``worker_id`` and ``last_activity_date``;
    ``audited`` holds the references the regular programme has audited; ``recent_cycles`` the workers
    audited in each past cycle, newest first. With ``explain`` the result carries every case's outcome
    and reason.
    """
    frame = pd.DataFrame(
        {
            "case_ref": cases["case_ref"].astype(str).to_numpy(),
            "stratum": strata(cases["area"], cases["audit_type"]),
            "worker_id": cases["worker_id"].astype(str).to_numpy(),
            "key": random_keys(cases["case_ref"], seed),
        }
    )
    standing = eligibility(
        cases["case_ref"], cases["worker_id"], cases["last_activity_date"], rules, as_of, audited, recent_cycles
    )
    frame = pd.concat([frame, standing], axis=1).sort_values(["key", "case_ref"], kind="stable", ignore_index=True)

    draw = _Draw(quotas, rules)
    strict = eligible(frame)
    for rule, relaxed in passes(rules):
        if rule is None:
            draw.scan(frame[strict], relaxed=())
            continue
        short = draw.short_strata()
        if not short:
            break
        before = {stratum: draw.drawn_count[stratum] for stratum in short}
        candidates = eligible(frame, relaxed) & frame["stratum"].isin(short) & ~frame["case_ref"].isin(draw.taken)
        draw.scan(frame[candidates], relaxed=relaxed)
        for stratum in short:
            draw.relaxations.append(Relaxation(stratum, rule, draw.drawn_count[stratum] - before[stratum]))

    eligible_counts = frame[strict].groupby("stratum").size()
    results = [
        StratumResult(
            stratum=stratum,
            quota=quota,
            eligible=int(eligible_counts.get(stratum, 0)),
            drawn=draw.drawn_count[stratum],
            reserves=draw.reserve_count[stratum],
        )
        for stratum, quota in sorted(quotas.items())
    ]
    return Selection(
        seed=seed,
        rule_version=RULE_VERSION,
        drawn=draw.frame(DRAWN),
        reserves=draw.frame(RESERVE),
        strata=results,
        relaxations=draw.relaxations,
        outcomes=_outcomes(frame, draw, quotas, rules, as_of) if explain else None,
    )


class _Draw:
    """The state of one draw: what each stratum and each worker has, and why visited cases were passed over."""

    def __init__(self, quotas: Mapping[str, int], rules: SelectionRules) -> None:
        self.quotas = dict(quotas)
        self.reserve_quotas = {s: math.ceil(q * rules.reserve_share) for s, q in quotas.items()}
        self.rules = rules
        self.drawn_count = dict.fromkeys(quotas, 0)
        self.reserve_count = dict.fromkeys(quotas, 0)
        self.worker_count: dict[str, int] = {}
        self.rows: list[tuple[str, str, str, str, int, str]] = []
        self.taken: set[str] = set()
        self.passed_over: dict[str, str] = {}
        self.relaxations: list[Relaxation] = []

    def short_strata(self) -> list[str]:
        return sorted(s for s, quota in self.quotas.items() if self.drawn_count[s] < quota)

    def _open(self) -> int:
        return sum(
            (self.quotas[s] - self.drawn_count[s]) + (self.reserve_quotas[s] - self.reserve_count[s])
            for s in self.quotas
        )

    def scan(self, candidates: pd.DataFrame, relaxed: tuple[str, ...]) -> None:
        """Visit candidates in key order, drawing then reserving per stratum, honouring the worker cap."""
        cap = worker_cap(self.rules, relaxed)
        label = ",".join(relaxed)
        open_places = self._open()
        refs, strata, workers = (candidates[c].to_numpy() for c in ("case_ref", "stratum", "worker_id"))
        for case_ref, stratum, worker in zip(refs, strata, workers, strict=True):
            if open_places == 0:
                break
            if stratum not in self.quotas:
                continue
            if cap is not None and self.worker_count.get(worker, 0) >= cap:
                self.passed_over.setdefault(case_ref, f"the worker already has {cap} case(s) in this cycle")
                continue
            if self.drawn_count[stratum] < self.quotas[stratum]:
                self.drawn_count[stratum] += 1
                self._take(case_ref, stratum, worker, DRAWN, self.drawn_count[stratum], label)
            elif not relaxed and self.reserve_count[stratum] < self.reserve_quotas[stratum]:
                self.reserve_count[stratum] += 1
                self._take(case_ref, stratum, worker, RESERVE, self.reserve_count[stratum], label)
            else:
                continue
            open_places -= 1

    def _take(self, case_ref: str, stratum: str, worker: str, kind: str, rank: int, relaxed: str) -> None:
        self.rows.append((case_ref, stratum, worker, kind, rank, relaxed))
        self.taken.add(case_ref)
        self.passed_over.pop(case_ref, None)
        self.worker_count[worker] = self.worker_count.get(worker, 0) + 1

    def frame(self, kind: str) -> pd.DataFrame:
        rows = [
            (ref, stratum, worker, rank, relaxed) for ref, stratum, worker, k, rank, relaxed in self.rows if k == kind
        ]
        return pd.DataFrame(rows, columns=["case_ref", "stratum", "worker_id", "rank", "relaxed"])


def _outcomes(
    frame: pd.DataFrame, draw: _Draw, quotas: Mapping[str, int], rules: SelectionRules, as_of: date
) -> pd.DataFrame:
    no_quota = ~frame["stratum"].isin([s for s, q in quotas.items() if q > 0]).to_numpy()
    filled = "the stratum's quota and reserves were filled by cases ranked before it"
    reasons = why_not_drawn(frame, rules, as_of, filled, [(no_quota, "no quota for this stratum")])
    passed = frame["case_ref"].map(draw.passed_over)
    reasons = reasons.where(passed.isna(), passed)
    outcome = pd.Series(NOT_DRAWN, index=frame.index)
    taken = {ref: (kind, rank, relaxed) for ref, _, _, kind, rank, relaxed in draw.rows}
    for index, ref in frame["case_ref"].items():
        if ref in taken:
            kind, rank, relaxed = taken[ref]
            outcome[index] = kind
            reasons[index] = f"{kind} {rank} in its stratum{relaxed_note(relaxed)}"
    return pd.DataFrame(
        {"case_ref": frame["case_ref"], "stratum": frame["stratum"], "outcome": outcome, "reason": reasons}
    )
