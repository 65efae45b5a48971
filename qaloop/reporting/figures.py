"""The figures of a cycle's reports, each worked out from the store, so that every number a board reads can be
recomputed: completion and timeliness, grades overall and by area, audit type and audit-tool question
beside earlier cycles on p-charts, moderation agreement, corrective actions, and the triangulation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from qaloop.core.settings import Settings, not_applicable
from qaloop.moderation.agreement import kappa_said
from qaloop.reporting.findings import audit_findings, question_answers
from qaloop.reporting.methods import Method, methods
from qaloop.reporting.spc import ChartRules, PChart, p_chart
from qaloop.reporting.triangulation import TriangulationResult, triangulate
from qaloop.store import models
from qaloop.store.handles import CycleError, authority_id


@dataclass(frozen=True)
class CycleFigures:
    """Everything the cycle's reports show.

    ``findings`` is the cycle's filed audits (see ``findings.audit_findings``) and ``answers`` their
    audit-tool answers (see ``findings.question_answers``); ``grades`` has one row per
    group (``grouping`` overall, area or audit_type; ``group``), a column per grade label, then audits, good,
    good_share, below_standard; ``questions`` has tool, aspect, question_id, question, yes, no,
    not_applicable, answered, yes_share, reading (the question's p-chart over cycles with answers);
    ``methods`` the methods page (see ``methods.methods``).
    """

    authority: str
    cycle_ref: str
    programme: str
    close_date: date
    labels: tuple[str, ...]
    cycles: tuple[str, ...]
    allocated: int
    submitted: int
    on_time: int
    findings: pd.DataFrame
    answers: pd.DataFrame
    grades: pd.DataFrame
    questions: pd.DataFrame
    charts: dict[str, PChart]
    agreement: pd.DataFrame
    actions: dict[str, int]
    triangulation: TriangulationResult
    methods: tuple[Method, ...] = ()

    @property
    def regular(self) -> bool:
        """Whether these are a regular cycle's figures (a deep dive's cover only what it looked at)."""
        return self.programme == "regular"

    @property
    def what(self) -> str:
        """How the reports name what they report on: "cycle 2026-09" or "deep dive DD-20270301-..."."""
        return f"cycle {self.cycle_ref}" if self.regular else f"deep dive {self.cycle_ref}"

    @property
    def completion(self) -> float:
        """Share of the cycle's audits returned."""
        return self.submitted / self.allocated if self.allocated else 0.0

    @property
    def timeliness(self) -> float:
        """Share of the returned audits returned by their due date."""
        return self.on_time / self.submitted if self.submitted else 0.0

    def overall(self) -> dict[str, Any]:
        """The ``grades`` row for the whole cycle."""
        return self.grades[self.grades["grouping"] == "overall"].iloc[0].to_dict()


def cycle_figures(connection: Connection, settings: Settings, cycle_ref: str, as_of: date) -> CycleFigures:
    """Work out the figures of ``cycle_ref`` and the ``reports.past_cycles`` regular cycles before it; the
    triangulation covers the whole months before ``as_of`` (the day the reports are written)."""
    authority = authority_id(connection, settings)
    cycle = connection.execute(
        select(models.AuditCycle.__table__).where(
            models.AuditCycle.authority_id == authority, models.AuditCycle.cycle_ref == cycle_ref
        )
    ).one_or_none()
    if cycle is None:
        raise CycleError(f"cycle {cycle_ref} is not recorded for {settings.authority.code}")
    cycles = _cycles_up_to(connection, authority, cycle, settings.reports.past_cycles)
    history = audit_findings(connection, settings, cycle_refs=cycles)
    findings = history[history["cycle_ref"] == cycle_ref].reset_index(drop=True)
    allocation = models.Allocation
    allocated = connection.scalar(
        select(func.count())
        .select_from(allocation)
        .where(allocation.cycle_id == cycle.id, allocation.status.in_(models.AUDITED_STATUSES))
    )
    on_time = int((findings["submitted_on"] <= findings["audit_due"]).sum())
    answers = question_answers(connection, history["return_id"].tolist())
    rules = chart_rules(settings, known_cycles(connection, authority))
    charts = {"overall": _chart(history, cycles, rules)}
    for grouping in ("area", "audit_type"):
        for value in sorted(history[grouping].unique()):
            charts[f"{grouping}:{value}"] = _chart(history[history[grouping] == value], cycles, rules)
    return CycleFigures(
        authority=settings.authority.name,
        cycle_ref=cycle_ref,
        programme=cycle.programme,
        close_date=cycle.close_date,
        labels=tuple(settings.grade_scale.labels),
        cycles=tuple(cycles),
        allocated=allocated,
        submitted=len(findings),
        on_time=on_time,
        findings=findings,
        answers=answers[answers["return_id"].isin(findings["return_id"])].reset_index(drop=True),
        grades=grade_table(findings, settings.grade_scale.labels, settings),
        questions=question_table(history, answers, settings, cycle_ref, cycles, rules),
        charts=charts,
        agreement=_agreement(connection, cycle.id, settings.moderation.kappa_min_audits),
        actions=_actions(connection, authority, cycle.id, cycle.close_date),
        triangulation=triangulate(connection, settings, as_of),
        methods=tuple(methods(settings)),
    )


def _cycles_up_to(connection: Connection, authority: int, cycle: Any, past: int) -> list[str]:
    """This cycle and the regular cycles before it, oldest first (a deep dive compares with itself only)."""
    audit_cycle = models.AuditCycle
    if cycle.programme != "regular":
        return [cycle.cycle_ref]
    refs = connection.scalars(
        select(audit_cycle.cycle_ref)
        .where(
            audit_cycle.authority_id == authority,
            audit_cycle.programme == "regular",
            audit_cycle.selection_date <= cycle.selection_date,
        )
        .order_by(audit_cycle.selection_date.desc())
    ).all()
    return list(reversed(refs[: past + 1]))


def grade_table(findings: pd.DataFrame, labels: Iterable[str], settings: Settings) -> pd.DataFrame:
    """Grades counted overall, by area and by audit type (see ``CycleFigures.grades``)."""
    labels = list(labels)
    parts = []
    for grouping in ("overall", "area", "audit_type"):
        keyed = findings.assign(group="all" if grouping == "overall" else findings.get(grouping))
        counts = (
            keyed.groupby(["group", "grade"]).size().unstack(fill_value=0).reindex(columns=labels, fill_value=0)
            if len(keyed)
            else pd.DataFrame(columns=labels, index=pd.Index(["all"] if grouping == "overall" else [], name="group"))
        )
        counts = counts.fillna(0).astype(int)
        counts["audits"] = counts[labels].sum(axis=1)
        counts["good"] = counts[labels[settings.grade_scale.good_rank :]].sum(axis=1)
        counts["below_standard"] = counts[labels[: settings.grade_scale.rank(settings.grade_scale.standard)]].sum(
            axis=1
        )
        counts["good_share"] = counts["good"] / counts["audits"].where(counts["audits"] > 0)
        parts.append(counts.reset_index().assign(grouping=grouping))
    table = pd.concat(parts, ignore_index=True)
    return table[["grouping", "group", *labels, "audits", "good", "good_share", "below_standard"]]


def chart_rules(settings: Settings, recorded: set[str]) -> ChartRules:
    """How the p-charts are read, from ``reports``; a recalculation must name a recorded regular cycle
    (``recorded``): one mistyped would silently leave the limits as they were."""
    reports = settings.reports
    unknown = [r.cycle for r in reports.spc_recalculate_from if r.cycle not in recorded]
    if unknown:
        raise CycleError(
            f"reports.spc_recalculate_from names {', '.join(unknown)}, which is not a regular cycle recorded for "
            f"{settings.authority.code}: correct the configuration (cycles are named by reference, as 2026-09)"
        )
    return ChartRules(
        run=reports.spc_run,
        min_points=reports.spc_min_points,
        baseline=reports.spc_baseline_points,
        recalculate_from=tuple((r.cycle, r.reason) for r in reports.spc_recalculate_from),
        target=reports.good_share_target,
    )


def known_cycles(connection: Connection, authority: int) -> set[str]:
    """The references of the authority's regular cycles."""
    audit_cycle = models.AuditCycle
    return set(
        connection.scalars(
            select(audit_cycle.cycle_ref).where(
                audit_cycle.authority_id == authority, audit_cycle.programme == "regular"
            )
        )
    )


def question_table(
    history: pd.DataFrame,
    answers: pd.DataFrame,
    settings: Settings,
    cycle_ref: str,
    cycles: list[str],
    rules: ChartRules,
) -> pd.DataFrame:
    """Each audit-tool question's answers this cycle and its "yes" share beside earlier cycles (read by
    ``rules``, without the target: that is for the share of audits good or better)."""
    columns = [
        "tool", "aspect", "question_id", "question", "yes", "no", "short", "not_applicable", "answered", "yes_share",
        "reading",
    ]  # fmt: skip
    if answers.empty:
        return pd.DataFrame(columns=columns)
    joined = answers.merge(history[["return_id", "cycle_ref", "audit_type"]], on="return_id")
    joined["tool"] = joined["audit_type"].map(lambda type_id: settings.audit_type(type_id).tool)
    question_rules = replace(rules, target=None)
    rows = []
    for (tool_id, question_id), group in joined.groupby(["tool", "question_id"]):
        tool = settings.audit_tools[tool_id]
        question = next((q for q in tool.questions if q.id == question_id), None)
        if question is None:
            continue
        aspect = next(a.title for a in tool.aspects if a.id == question.aspect)
        short = tool.short_answer(question)
        answered = group[~group["answer"].map(not_applicable)]
        current = answered[answered["cycle_ref"] == cycle_ref]
        points = [
            (ref, int((answered["cycle_ref"].eq(ref) & answered["answer"].ne(short)).sum()),
             int(answered["cycle_ref"].eq(ref).sum()))
            for ref in cycles
        ]  # fmt: skip
        yes = int((current["answer"] != short).sum())
        rows.append(
            {
                "tool": tool_id,
                "aspect": aspect,
                "question_id": question_id,
                "question": question.text,
                "yes": yes,
                "no": int((current["answer"] == short).sum()),
                "short": short,
                "not_applicable": int(((group["cycle_ref"] == cycle_ref) & group["answer"].map(not_applicable)).sum()),
                "answered": len(current),
                "yes_share": yes / len(current) if len(current) else float("nan"),
                "reading": p_chart(points, rules=question_rules).latest,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _chart(findings: pd.DataFrame, cycles: list[str], rules: ChartRules) -> PChart:
    counts = findings.groupby("cycle_ref")["good"].agg(["sum", "size"]).reindex(cycles, fill_value=0)
    points = [(ref, int(counts.loc[ref, "sum"]), int(counts.loc[ref, "size"])) for ref in cycles]
    return p_chart(points, rules=rules)


def _agreement(connection: Connection, cycle_id: int, minimum: int) -> pd.DataFrame:
    """The kept agreement figures the summary shows, with the exact agreement as a count (``agreeing``) and the
    kappa as the report says it (``kappa_said``: see ``agreement.kappa_said``)."""
    figure = models.AgreementFigure
    rows = connection.execute(
        select(
            figure.grouping,
            figure.group_value,
            figure.audits,
            figure.exact,
            figure.within_one,
            figure.kappa,
            figure.kappa_low,
            figure.kappa_high,
            figure.auditor_higher,
            figure.auditor_lower,
        )  # fmt: skip
        .where(figure.cycle_id == cycle_id, figure.grouping.in_(["overall", "to date: overall", "audit_type"]))
        .where(~((figure.grouping == "audit_type") & (figure.group_value == "all")))  # the same as "overall"
        .order_by(figure.grouping, figure.group_value)
    ).all()
    columns = [
        "grouping", "group", "audits", "exact", "within_one", "kappa", "kappa_low", "kappa_high",
        "auditor_higher", "auditor_lower",
    ]  # fmt: skip
    table = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    table["agreeing"] = (table["exact"] * table["audits"]).round().astype("int64")
    table["kappa_said"] = [
        kappa_said(row.audits, row.exact, _number(row.kappa), _number(row.kappa_low), _number(row.kappa_high), minimum)
        for row in table.itertuples()
    ]
    return table


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _actions(connection: Connection, authority: int, cycle_id: int, close_date: date) -> dict[str, int]:
    action, allocation, cycle = models.CorrectiveAction, models.Allocation, models.AuditCycle
    rows = connection.execute(
        select(allocation.cycle_id, action.status, action.due_date)
        .join(allocation, allocation.id == action.allocation_id)
        .join(cycle, cycle.id == allocation.cycle_id)
        .where(cycle.authority_id == authority)
    ).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=["cycle_id", "status", "due_date"])
    mine = frame[frame["cycle_id"] == cycle_id]
    still_open = frame[frame["status"] == "open"]
    return {
        "opened": len(mine),
        "done": int((mine["status"] == "done").sum()),
        "open": int((mine["status"] == "open").sum()),
        "open_all_cycles": len(still_open),
        "overdue_all_cycles": int((still_open["due_date"] < close_date).sum()),
    }
