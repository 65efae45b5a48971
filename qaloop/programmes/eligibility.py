"""The one eligibility and repeat-avoidance rule, under which every programme draws (regular cycles, deep dives,
managers' months) and the demo's history is made.

A case may be drawn when the regular programme has never audited it (never relaxed), it has recorded activity
since the look-back cutoff, and its worker was not audited in each of the last N cycles; at most
``cases_per_worker`` cases of one worker are drawn. Where a draw runs short, the rules relax one at a time in
the configured order, each pass keeping the relaxations before it, and the reasons say so in the same words
whichever programme drew.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date

import numpy as np
import pandas as pd

from qaloop.core.settings import RelaxableRule, SelectionRules

ALREADY_AUDITED = "already audited by the regular programme"


def look_back_cutoff(as_of: date, months: int) -> pd.Timestamp:
    """The earliest activity that counts for a draw on ``as_of``: ``months`` calendar months before it."""
    return pd.Timestamp(as_of) - pd.DateOffset(months=months)


def stratum_of(area: str, audit_type: str) -> str:
    """The stratum key of an area (its code) and an audit type, as stored with each allocation."""
    return f"{area}|{audit_type}"


def strata(areas: Iterable[str], audit_types: Iterable[str]) -> list[str]:
    """``stratum_of`` for each pair of an area code and an audit type."""
    return [stratum_of(str(area), str(audit_type)) for area, audit_type in zip(areas, audit_types, strict=True)]


def blocked_workers(recent_cycles: Sequence[Iterable[str]], repeat_cycles: int) -> set[str]:
    """Workers audited in each of the last ``repeat_cycles`` cycles (``recent_cycles`` newest first).

    With fewer past cycles than that, nobody is blocked.
    """
    if len(recent_cycles) < repeat_cycles:
        return set()
    blocked = set(recent_cycles[0])
    for cycle in recent_cycles[1:repeat_cycles]:
        blocked &= set(cycle)
    return blocked


def eligibility(
    case_refs: pd.Series,
    worker_ids: pd.Series,
    last_activity: pd.Series,
    rules: SelectionRules,
    as_of: date,
    audited: Iterable[str] = (),
    recent_cycles: Sequence[Iterable[str]] = (),
) -> pd.DataFrame:
    """Each case's standing under the rules: columns ``in_window`` (activity since the cutoff), ``audited`` (by
    the regular programme) and ``repeat_blocked`` (its worker audited in each of the last N cycles)."""
    cutoff = look_back_cutoff(as_of, rules.look_back_months)
    return pd.DataFrame(
        {
            "in_window": (pd.to_datetime(last_activity) >= cutoff).to_numpy(),
            "audited": case_refs.astype(str).isin(set(audited)).to_numpy(),
            "repeat_blocked": worker_ids.astype(str)
            .isin(blocked_workers(recent_cycles, rules.worker_repeat_cycles))
            .to_numpy(),
        }
    )


def passes(rules: SelectionRules) -> Iterator[tuple[RelaxableRule | None, tuple[RelaxableRule, ...]]]:
    """The passes of a draw: first under every rule, then with each relaxable rule let go in the configured
    order, keeping those let go before it: (the rule relaxed in this pass, all relaxed so far)."""
    yield None, ()
    relaxed: list[RelaxableRule] = []
    for rule in rules.relaxation_order:
        relaxed.append(rule)
        yield rule, tuple(relaxed)


def eligible(standing: pd.DataFrame, relaxed: Collection[str] = ()) -> np.ndarray:
    """Which cases may be drawn with ``relaxed`` let go (``standing`` as ``eligibility`` gives it). Having been
    audited is never relaxed."""
    allowed = ~standing["audited"].to_numpy()
    if "look_back" not in relaxed:
        allowed &= standing["in_window"].to_numpy()
    if "worker_repeat" not in relaxed:
        allowed &= ~standing["repeat_blocked"].to_numpy()
    return allowed


def worker_cap(rules: SelectionRules, relaxed: Collection[str]) -> int | None:
    """The most cases of one worker a pass may draw, or None when the cap is relaxed."""
    return None if "cases_per_worker" in relaxed else rules.cases_per_worker


def reasons(
    standing: pd.DataFrame,
    rules: SelectionRules,
    as_of: date,
    otherwise: str,
    overrides: Sequence[tuple[np.ndarray, str]] = (),
) -> pd.Series:
    """Why each case (a row of ``eligibility``) was not drawn, in plain words: ``otherwise`` for cases the rules
    allowed, then, each taking precedence over the one before, a blocked worker, no activity in the window, the
    programme's own ``overrides`` (mask, reason), and having been audited already."""
    cutoff = look_back_cutoff(as_of, rules.look_back_months).date().isoformat()
    why = pd.Series(otherwise, index=standing.index, dtype=object)
    why[standing["repeat_blocked"].to_numpy()] = (
        f"the worker was audited in each of the last {rules.worker_repeat_cycles} cycles"
    )
    why[~standing["in_window"].to_numpy()] = f"no recorded activity since {cutoff}"
    for mask, reason in overrides:
        why[mask] = reason
    why[standing["audited"].to_numpy()] = ALREADY_AUDITED
    return why


def relaxed_note(relaxed: str) -> str:
    """How a case drawn after relaxing rules says so (empty when none were)."""
    return f" after relaxing {relaxed}" if relaxed else ""
