"""A synthetic authority, deterministic from a seed, shaped like Essex adult social care.

``generate`` builds the canonical frames (staff with a real hierarchy, cases with realistic caseloads,
past audit cycles, complaints, Ombudsman decisions, compliments and survey responses) for the authority
in the settings; ``write_extracts`` writes them as the CSV / XLSX files a council would export, under the
configured source paths and column names. Staff have names and emails; cases carry references only.
The size scales from the default 25,000 cases to 1,000,000 for benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker

from qaloop.core.cycle_dates import cycle_dates, scheduled_selection_dates
from qaloop.core.roles import Role
from qaloop.core.schema import SCHEMAS, Dataset
from qaloop.core.settings import AnnexASource, CsvSource, Settings, XlsxSource
from qaloop.demo.practice import practice as demo_practice
from qaloop.programmes.eligibility import look_back_cutoff

BASE_CASES = 25_000
BASE_TEAMS_PER_AREA = 10
PAST_CYCLES = 14

# Share of recorded work by audit type in an adult service (reviews and assessments dominate).
_ADULT_TYPE_WEIGHTS = {
    "care_act_assessment": 0.33,
    "care_act_review": 0.42,
    "mca_assessment": 0.10,
    "safeguarding": 0.15,
}
_TEAM_KINDS = ["Locality", "Hospital Discharge", "Reablement", "Learning Disability", "Mental Health", "Review"]
_COMPLAINT_THEMES = [
    "communication",
    "delay",
    "assessment quality",
    "charging",
    "care provision",
    "safeguarding",
    "staff attitude",
]
_COMPLIMENT_THEMES = ["kindness", "communication", "responsiveness", "outcome achieved", "advocacy"]
_SURVEY_QUESTIONS = {"satisfaction": 0.0, "listened_to": 0.2, "information_clear": -0.3}
_SURVEY_COMMENTS = [
    "The worker explained everything clearly.",
    "It took too long to get a call back.",
    "I felt listened to.",
    "I was not told what would happen next.",
    "Support has made a real difference at home.",
]


@dataclass(frozen=True)
class SyntheticAuthority:
    """The canonical frames of one synthetic authority (columns as in ``qaloop.schema``, dates as ``date``)."""

    frames: dict[Dataset, pd.DataFrame]

    def __getitem__(self, dataset: Dataset) -> pd.DataFrame:
        return self.frames[dataset]


def generate(
    settings: Settings,
    *,
    as_of: date,
    seed: int = 1,
    cases: int = BASE_CASES,
    history_per_cycle: int | None = None,
) -> SyntheticAuthority:
    """A synthetic authority for the configured areas, audit types and grade scale, as of ``as_of``.

    The same settings, ``as_of``, ``seed`` and size give identical frames. Teams grow more slowly than
    ``cases`` (about 40 teams and 600 staff at 25,000 cases, 5,000 staff at 1,000,000).
    ``history_per_cycle`` defaults to the configured audits per area times the number of areas.
    """
    rng = np.random.default_rng(seed)
    faker = Faker("en_GB")
    faker.seed_instance(seed)
    teams_per_area = max(2, round(BASE_TEAMS_PER_AREA * (cases / BASE_CASES) ** 0.6))
    staff = _staff(settings, rng, faker, teams_per_area, as_of)
    case_frame = _cases(settings, rng, staff, cases, as_of)
    per_cycle = history_per_cycle or settings.calendar.audits_per_area * len(settings.authority.areas)
    frames = {
        Dataset.STAFF: staff,
        Dataset.CASES: case_frame,
        Dataset.AUDIT_HISTORY: _audit_history(settings, rng, staff, case_frame, per_cycle, as_of),
    }
    drifting = demo_practice(settings, _teams(staff), latest=PAST_CYCLES).drifting_team
    complaints = _complaints(rng, case_frame, as_of, drifting)
    frames[Dataset.COMPLAINTS] = complaints
    frames[Dataset.OMBUDSMAN] = _ombudsman(rng, complaints, as_of)
    frames[Dataset.COMPLIMENTS] = _compliments(rng, case_frame, as_of)
    frames[Dataset.SURVEYS] = _surveys(rng, case_frame, as_of)
    for dataset, frame in frames.items():
        assert list(frame.columns) == SCHEMAS[dataset].names, dataset
    return SyntheticAuthority(frames)


def _staff(
    settings: Settings, rng: np.random.Generator, faker: Faker, teams_per_area: int, as_of: date
) -> pd.DataFrame:
    rows: list[dict] = []

    def add(role: Role, area: str | None, team: str | None, manager: str | None) -> str:
        staff_id = f"E{10001 + len(rows):06d}"
        rows.append({"staff_id": staff_id, "role": role.value, "area": area, "team": team, "line_manager_id": manager})
        return staff_id

    director = add(Role.DIRECTOR, None, None, None)
    for _ in range(3):
        add(Role.QA_OFFICER, None, None, director)
    for area in settings.authority.areas:
        area_director = add(Role.DIRECTOR, area.name, None, director)
        for _ in range(2):
            add(Role.PRACTICE_LEAD, area.name, None, director)
        service_managers = [
            add(Role.SERVICE_MANAGER, area.name, None, area_director) for _ in range(math.ceil(teams_per_area / 5))
        ]
        for index in range(teams_per_area):
            team = f"{area.name} {_TEAM_KINDS[index % len(_TEAM_KINDS)]} {index // len(_TEAM_KINDS) + 1}"
            manager = add(Role.TEAM_MANAGER, area.name, team, service_managers[index // 5])
            for _ in range(int(rng.integers(1, 4))):
                add(Role.SENIOR_PRACTITIONER, area.name, team, manager)
            for _ in range(int(rng.integers(9, 14))):
                add(Role.PRACTITIONER, area.name, team, manager)
    staff = pd.DataFrame(rows)
    names, emails, seen = [], [], set()
    for _ in range(len(staff)):
        first, last = faker.first_name(), faker.last_name()
        local = f"{first}.{last}".lower().replace("'", "").replace(" ", "-")
        address = local
        suffix = 2
        while address in seen:
            address, suffix = f"{local}{suffix}", suffix + 1
        seen.add(address)
        # Two people with one name would be ambiguous wherever staff are named (Annex A): a middle initial.
        names.append(f"{first} {chr(ord('A') + suffix - 3)}. {last}" if suffix > 2 else f"{first} {last}")
        emails.append(f"{address}@qaloop-demo.example")
    staff["name"] = names
    staff["email"] = emails
    practitioner = staff["role"] == Role.PRACTITIONER.value
    staff["active"] = ~(practitioner & (rng.random(len(staff)) < 0.02))
    on_leave = staff["active"] & (rng.random(len(staff)) < 0.04)
    starts = [as_of + timedelta(days=int(d)) for d in rng.integers(-30, 30, len(staff))]
    lengths = rng.integers(5, 90, len(staff))
    staff["leave_start"] = [start if leave else None for start, leave in zip(starts, on_leave, strict=True)]
    staff["leave_end"] = [
        start + timedelta(days=int(length)) if leave else None
        for start, length, leave in zip(starts, lengths, on_leave, strict=True)
    ]
    return staff[SCHEMAS[Dataset.STAFF].names]


def _type_weights(settings: Settings) -> tuple[list[str], np.ndarray]:
    ids = [audit_type.id for audit_type in settings.audit_types]
    weights = np.array([_ADULT_TYPE_WEIGHTS.get(type_id, 1 / len(ids)) for type_id in ids])
    return ids, weights / weights.sum()


def _days_before(as_of: date, days: np.ndarray) -> np.ndarray:
    return (np.datetime64(as_of) - days.astype("timedelta64[D]")).astype("datetime64[D]")


def _cases(settings: Settings, rng: np.random.Generator, staff: pd.DataFrame, n: int, as_of: date) -> pd.DataFrame:
    workers = staff[staff["role"].isin([Role.PRACTITIONER.value, Role.SENIOR_PRACTITIONER.value])]
    # Caseloads vary between workers; senior practitioners carry about half a full caseload.
    weights = rng.gamma(4.0, 1.0, len(workers)) * np.where(workers["role"] == Role.SENIOR_PRACTITIONER.value, 0.5, 1.0)
    weights *= np.where(workers["active"], 1.0, 0.1)
    chosen = rng.choice(len(workers), size=n, p=weights / weights.sum())
    type_ids, type_weights = _type_weights(settings)
    last_activity = _days_before(as_of, rng.integers(0, 365, n))
    duration = np.minimum(rng.exponential(90, n).astype(int), 700)
    start = (last_activity - duration.astype("timedelta64[D]")).astype("datetime64[D]")
    ended = rng.random(n) < 0.55
    refs = 4_000_000 + np.cumsum(rng.integers(1, 8, n))
    persons = 1_000_000 + rng.integers(0, max(1, int(n * 0.7)), n)
    picked = workers.iloc[chosen]
    area_codes = {area.name: area.code for area in settings.authority.areas}
    frame = pd.DataFrame(
        {
            "case_ref": [f"CR{ref:08d}" for ref in refs],
            "person_ref": [f"P{person:07d}" for person in persons],
            "audit_type": np.array(type_ids, dtype=object)[rng.choice(len(type_ids), size=n, p=type_weights)],
            "area": picked["area"].map(area_codes).to_numpy(),
            "team": picked["team"].to_numpy(),
            "worker_id": picked["staff_id"].to_numpy(),
            "start_date": start,
            "last_activity_date": last_activity,
            "end_date": np.where(ended, last_activity, np.datetime64("NaT")),
        }
    )
    for column in ("start_date", "last_activity_date", "end_date"):
        frame[column] = _as_dates(frame[column])
    return frame


def _as_dates(values: pd.Series) -> pd.Series:
    converted = pd.to_datetime(values)
    return pd.Series(converted.dt.date.where(converted.notna(), None), index=values.index, dtype=object)


def _audit_history(
    settings: Settings,
    rng: np.random.Generator,
    staff: pd.DataFrame,
    cases: pd.DataFrame,
    per_cycle: int,
    as_of: date,
) -> pd.DataFrame:
    calendar = settings.calendar
    earliest = as_of - timedelta(weeks=calendar.cadence_weeks * (PAST_CYCLES + 1))
    selections = scheduled_selection_dates(calendar, earliest, as_of - timedelta(days=1))[-PAST_CYCLES:]
    labels = settings.grade_scale.labels
    area_names = {area.code: area.name for area in settings.authority.areas}
    county = demo_practice(settings, _teams(staff), latest=len(selections))
    auditors = staff[
        staff["active"]
        & staff["role"].isin([Role.SENIOR_PRACTITIONER.value, Role.TEAM_MANAGER.value, Role.SERVICE_MANAGER.value])
    ]
    start = pd.to_datetime(cases["start_date"]).to_numpy()
    activity = pd.to_datetime(cases["last_activity_date"]).to_numpy()
    audit_types = cases["audit_type"].to_numpy()
    audited = np.zeros(len(cases), dtype=bool)
    per_area = max(1, per_cycle // len(settings.authority.areas))
    parts = []
    for index, selection in enumerate(selections):
        dates = cycle_dates(calendar, selection)
        look_back = look_back_cutoff(selection, settings.selection.look_back_months).to_datetime64()
        in_programme = np.array([county.audited(type_id, index) for type_id in audit_types])
        eligible = ~audited & in_programme & (start <= np.datetime64(selection)) & (activity >= look_back)
        order = rng.permutation(np.flatnonzero(eligible))
        shuffled = cases.iloc[order]
        # One case per worker per cycle, as the programme's rule says, unless the requested history is
        # larger than the workforce can give (benchmark sizes).
        per_worker = max(1, math.ceil(per_cycle / max(1, shuffled["worker_id"].nunique())))
        candidates = shuffled.groupby("worker_id", sort=False).head(per_worker)
        drawn = candidates.groupby("area", sort=True).head(per_area)
        audited[cases.index.get_indexer(drawn.index)] = True
        drawn_auditors = _pick_auditors(rng, drawn, auditors, area_names)
        grades = [
            labels[county.grade(rng, area_names[area], team, index)]
            for area, team in zip(drawn["area"], drawn["team"], strict=True)
        ]
        lateness = rng.integers(-10, 6, len(drawn))
        parts.append(
            pd.DataFrame(
                {
                    "cycle_ref": dates.cycle_ref,
                    "selection_date": selection,
                    "case_ref": drawn["case_ref"].to_numpy(),
                    "worker_id": drawn["worker_id"].to_numpy(),
                    "auditor_id": drawn_auditors,
                    "grade": grades,
                    # The latest cycle's audits are still coming in: none is returned after ``as_of``.
                    "submitted_on": [min(dates.audit_due + timedelta(days=int(d)), as_of) for d in lateness],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=SCHEMAS[Dataset.AUDIT_HISTORY].names)
    return pd.concat(parts, ignore_index=True)


def _pick_auditors(
    rng: np.random.Generator, drawn: pd.DataFrame, auditors: pd.DataFrame, area_names: dict[str, str]
) -> np.ndarray:
    """An auditor from the case's area but never from the case's team (so never its worker or their manager)."""
    picked = np.empty(len(drawn), dtype=object)
    for area_code, rows in drawn.groupby("area"):
        pool = auditors[auditors["area"] == area_names[area_code]]
        pool_ids, pool_teams = pool["staff_id"].to_numpy(), pool["team"].to_numpy()
        case_teams = rows["team"].to_numpy()
        choice = rng.integers(0, len(pool), len(rows))
        clash = pool_teams[choice] == case_teams
        while clash.any():  # draw again for the cases that landed on their own team
            choice[clash] = rng.integers(0, len(pool), int(clash.sum()))
            clash = pool_teams[choice] == case_teams
        picked[drawn.index.get_indexer(rows.index)] = pool_ids[choice]
    return picked


def _teams(staff: pd.DataFrame) -> list[tuple[str, str]]:
    """Each (area name, team name) of the staff."""
    teams = staff.dropna(subset=["team"])
    return list(zip(teams["area"], teams["team"], strict=True))


def _sample_cases(rng: np.random.Generator, cases: pd.DataFrame, n: int) -> pd.DataFrame:
    return cases.iloc[rng.integers(0, len(cases), n)]


def _complaints(rng: np.random.Generator, cases: pd.DataFrame, as_of: date, troubled_team: str) -> pd.DataFrame:
    """A year of complaints about the cases, three times as many about ``troubled_team``'s as about another's."""
    n = max(10, int(len(cases) * 0.012))
    weights = np.where(cases["team"].to_numpy() == troubled_team, 3.0, 1.0)
    about = cases.iloc[rng.choice(len(cases), size=n, p=weights / weights.sum())]
    received = _as_dates(pd.Series(_days_before(as_of, rng.integers(0, 365, n))))
    recent = pd.to_datetime(received) >= pd.Timestamp(as_of - timedelta(days=30))
    outcomes = rng.choice(["upheld", "partly upheld", "not upheld"], size=n, p=[0.28, 0.22, 0.5]).astype(object)
    outcomes[recent.to_numpy() & (rng.random(n) < 0.6)] = "open"
    response_days = pd.Series(rng.integers(5, 60, n), dtype="Int64").where(outcomes != "open")
    return pd.DataFrame(
        {
            "complaint_ref": [f"CMP-{i:06d}" for i in range(1, n + 1)],
            "received_on": received,
            "area": about["area"].to_numpy(),
            "team": np.where(rng.random(n) < 0.85, about["team"].to_numpy(), None),
            "theme": rng.choice(_COMPLAINT_THEMES, size=n),
            "outcome": outcomes,
            "response_days": response_days,
        }
    )


def _ombudsman(rng: np.random.Generator, complaints: pd.DataFrame, as_of: date) -> pd.DataFrame:
    escalated = complaints[complaints["outcome"] != "open"].sample(frac=0.05, random_state=rng)
    decisions = pd.DataFrame(
        {
            "decision_ref": [f"LGO-{i:05d}" for i in range(1, len(escalated) + 1)],
            "decided_on": [d + timedelta(days=int(rng.integers(60, 200))) for d in escalated["received_on"]],
            "area": escalated["area"].to_numpy(),
            "team": escalated["team"].to_numpy(),
            "theme": escalated["theme"].to_numpy(),
            "outcome": rng.choice(
                ["upheld", "not upheld", "closed after initial enquiries"], size=len(escalated), p=[0.5, 0.2, 0.3]
            ),
        }
    )
    # Decisions take months: only those already made by as_of exist.
    return decisions[decisions["decided_on"] <= as_of].reset_index(drop=True)


def _compliments(rng: np.random.Generator, cases: pd.DataFrame, as_of: date) -> pd.DataFrame:
    n = max(10, int(len(cases) * 0.02))
    about = _sample_cases(rng, cases, n)
    return pd.DataFrame(
        {
            "compliment_ref": [f"CPL-{i:06d}" for i in range(1, n + 1)],
            "received_on": _as_dates(pd.Series(_days_before(as_of, rng.integers(0, 365, n)))),
            "area": about["area"].to_numpy(),
            "team": about["team"].to_numpy(),
            "theme": rng.choice(_COMPLIMENT_THEMES, size=n),
        }
    )


def _surveys(rng: np.random.Generator, cases: pd.DataFrame, as_of: date) -> pd.DataFrame:
    n = max(10, int(len(cases) * 0.06))
    about = _sample_cases(rng, cases, n)
    responded = _as_dates(pd.Series(_days_before(as_of, rng.integers(0, 365, n))))
    base = rng.normal(3.7, 0.8, n)
    parts = []
    for question, offset in _SURVEY_QUESTIONS.items():
        scores = np.clip(np.round(base + offset + rng.normal(0, 0.5, n)), 1, 5).astype(int)
        comments = np.where(rng.random(n) < 0.15, rng.choice(_SURVEY_COMMENTS, size=n), None)
        parts.append(
            pd.DataFrame(
                {
                    "response_ref": [f"SR-{i:06d}" for i in range(1, n + 1)],
                    "survey": "Adult Social Care Survey",
                    "responded_on": responded,
                    "area": about["area"].to_numpy(),
                    "team": about["team"].to_numpy(),
                    "question": question,
                    "score": scores,
                    "comment": comments if question == "satisfaction" else None,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def write_extracts(authority: SyntheticAuthority, settings: Settings) -> dict[Dataset, Path]:
    """Write each dataset to its configured CSV / XLSX source, under the source's own column names and date format.

    Datasets whose source is SQL (or not configured) are skipped. Returns the files written.
    """
    written = {}
    for dataset, frame in authority.frames.items():
        source = settings.sources.get(dataset)
        if isinstance(source, AnnexASource):
            written[dataset] = write_annex_a(authority, source.path, source.lists)
        elif isinstance(source, CsvSource | XlsxSource):
            written[dataset] = write_frame(frame, dataset, source)
    return written


def write_frame(frame: pd.DataFrame, dataset: Dataset, source: CsvSource | XlsxSource) -> Path:
    """``frame`` (``dataset``'s canonical columns) written to ``source`` as a council would export it: in the
    source's column names, its words for each value it maps, and its date format; returns the file."""
    out = frame.copy()
    if source.date_format:
        for column in SCHEMAS[dataset].columns:
            if column.kind == "date":
                out[column.name] = [d.strftime(source.date_format) if d else None for d in out[column.name]]
    for name in out.columns:
        spec = source.column_spec(name)
        if spec.values:  # the source's own word for each canonical value (the first, where several map to one)
            words = {canonical: word for word, canonical in reversed(list(spec.values.items()))}
            out[name] = out[name].map(lambda value, words=words: words.get(value, value))
    out = out.rename(columns={name: source.column_spec(name).sources[0] for name in out.columns})
    source.path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, CsvSource):
        out.to_csv(source.path, index=False, sep=source.delimiter or ",")
    else:
        out.to_excel(source.path, index=False, sheet_name=source.sheet or "Sheet1", engine="openpyxl")
    return source.path


# How each Annex A list names its key dates (one year's template; the reader accepts other years' too).
_ANNEX_A_LISTS = {
    3: ("List 3 - Referrals", {"start_date": "Date of referral"}),
    4: ("List 4 - Assessments", {"start_date": "Assessment start date",
                                 "last_activity_date": "Assessment authorised date"}),
    5: ("List 5 - Section 47 enquiries", {"start_date": "Strategy discussion initiating Section 47 Enquiry Start Date",
                                          "last_activity_date": "Date of Initial Child Protection Conference"}),
    6: ("List 6 - Children in need", {"start_date": "CIN start date", "last_activity_date": "Date of latest visit",
                                      "end_date": "CIN closure date"}),
    7: ("List 7 - Child protection", {"start_date": "Child Protection Plan Start Date",
                                      "last_activity_date": "Date of latest review conference",
                                      "end_date": "Child Protection Plan End Date"}),
    8: ("List 8 - Children in care", {"start_date": "Date started to be looked after",
                                      "last_activity_date": "Date of latest statutory visit",
                                      "end_date": "Date ceased to be looked after"}),
    9: ("List 9 - Care leavers", {"start_date": "Date started to receive care leaver services",
                                  "last_activity_date": "Date of latest contact"}),
}  # fmt: skip


def write_annex_a(authority: SyntheticAuthority, path: Path, lists: Mapping[int, str], seed: int = 3) -> Path:
    """Write the authority's cases as an Annex A workbook as councils keep it: a title row above each list's
    headers, headers with stray spaces, coded demographic values, dates partly as Excel dates and partly as
    text, worker names typed with odd case and spacing, and in each list one child without an allocated
    worker and one allocated to a name the staff list lacks. Returns ``path``."""
    rng = np.random.default_rng(seed)
    cases, staff = authority[Dataset.CASES], authority[Dataset.STAFF]
    names = staff.set_index("staff_id")["name"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for number, audit_type in sorted(lists.items()):
            title, dates = _ANNEX_A_LISTS[number]
            rows = cases[cases["audit_type"] == audit_type].drop_duplicates("person_ref")
            n = len(rows)
            typed_names = [
                name.upper() if i % 7 == 0 else f"  {name.replace(' ', '  ')} " if i % 5 == 0 else name
                for i, name in enumerate(rows["worker_id"].map(names))
            ]
            # As in life, a child awaiting allocation and a worker from an agency the staff list lacks.
            if n > 2:
                typed_names[1], typed_names[2] = None, "Agency Worker"
            frame = pd.DataFrame(
                {
                    "Child Unique ID ": rows["person_ref"].to_numpy(),
                    "Gender": rng.choice(["a) Male", "b) Female", "c) Not stated"], n),
                    "Ethnicity": rng.choice(["a) WBRI", "b) WOTH", "c) MWBC", "d) AIND", "e) BAFR", "f) NOBT"], n),
                    "Date of Birth": [date(2008, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 6000, n)],
                    "Disability": rng.choice(["a) Yes", "b) No"], n, p=[0.1, 0.9]),
                    **{
                        header: [
                            (d.strftime("%d/%m/%Y") if i % 2 else d) if d else None for i, d in enumerate(rows[column])
                        ]
                        for column, header in dates.items()
                    },
                    " Allocated Team": np.where(rng.random(n) < 0.05, None, rows["team"].to_numpy()),
                    "Allocated Worker ": typed_names,
                }
            )
            sheet = title[:31]
            frame.to_excel(writer, sheet_name=sheet, index=False, startrow=1)
            writer.sheets[sheet].cell(row=1, column=1, value=f"Annex A {title} (synthetic)")
    return path
