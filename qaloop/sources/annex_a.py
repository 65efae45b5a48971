"""Ofsted's Annex A as a case source: the workbook a children's services authority already keeps for
inspections, read as councils produce it.

Annex A is one workbook with a sheet per list (List 1 contacts ... List 9 care leavers, List 10 adoption,
List 11 adopters). The lists that carry a child's unique id, an allocated team and an allocated worker are
auditable case lists (Lists 3 to 9 as the guidance lays them out; 2 and 10 where the council adds the
allocated worker; never 1, contacts, which no one is allocated, nor 11, which lists adopters, not children); each
(child, list) row becomes a case whose audit type is the one configured for the list, with the list's own
key dates: the latest activity is the latest of the list's activity dates as the DfE / Ofsted guidance
names them (a list with none of them is refused, never read from its start date). Headers vary between
years and carry stray spaces, so they are matched by their words; sheets by their list number ("List 7 -
Child Protection", "List_4", "8. Children Looked After"), one sheet per list; coded values ("b) Female")
lose their code; dates come as Excel dates or as text (16/02/2021, 16-Feb-2021, ISO). The allocated worker
is a name, matched to the staff list ignoring case, spacing and accents, written either way round
("Clarke, Zoë") and with any note in brackets ("(Agency)") dropped. A child listed more than once in a list
is a case per row (per episode), its reference the child, the list and the episode's start date.

Nothing is dropped silently: a row that cannot become a case (no child id, no allocated worker, a worker
who matches no one or more than one member of staff) is returned in ``problems`` with the reason, and the
names that matched no one or several are returned in ``workers`` for the QA team to put right. Demographic
columns (date of birth, gender, ethnicity, disability) are never carried into the cases.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from qaloop.core.schema import SCHEMAS, Dataset

CHILD_ID = (
    "child unique id", "child id", "unique child id", "child unique identifier", "unique child identifier",
    "child identifier", "childid", "child unique reference",
)  # fmt: skip
TEAM = ("allocated team", "team", "allocated team name")
WORKER = (
    "allocated worker", "allocated social worker", "allocated worker name", "allocated worker or personal adviser",
    "personal adviser", "allocated personal adviser", "social worker", "worker",
)  # fmt: skip


@dataclass(frozen=True)
class ListDates:
    """The headers (by their words) of one list's key dates: when the work started, the latest activity,
    and when it ended."""

    start: tuple[str, ...]
    activity: tuple[str, ...]
    end: tuple[str, ...] = ()


LIST_DATES: dict[int, ListDates] = {
    # The guidance's early help (List 2) and adoption (List 10) lists name no allocated worker: a council that
    # audits them adds the columns (Allocated Team, Allocated Worker) to its export (see WITHOUT_WORKER).
    2: ListDates(
        start=("assessment start date", "early help assessment start date"),
        activity=("assessment completion date", "early help assessment completion date", "assessment start date"),
    ),
    3: ListDates(start=("date of referral", "referral date"), activity=("date of referral", "referral date")),
    4: ListDates(
        start=("assessment start date", "date assessment started", "continuous assessment start date"),
        activity=(
            "continuous assessment date of authorisation",
            "assessment authorised date",
            "date assessment authorised",
            "assessment completion date",
        ),
    ),
    5: ListDates(
        start=(
            "strategy discussion initiating section 47 enquiry start date",
            "section 47 enquiry start date",
            "date of strategy discussion",
        ),
        activity=("date of initial child protection conference", "initial child protection conference date"),
    ),  # fmt: skip
    6: ListDates(
        start=("cin start date", "child in need start date", "date case opened"),
        activity=(
            "date child was last seen",
            "date of last social work visit",
            "date of latest visit",
            "date of last visit",
            "latest cin review date",
            "date of latest review",
        ),
        end=("cin closure date", "cin end date", "date case closed"),
    ),
    7: ListDates(
        start=("child protection plan start date", "cp plan start date"),
        activity=(
            "date of latest review conference",
            "date of the last statutory visit",
            "date child was last seen",
            "date of last visit",
            "date of latest visit",
            "date of latest statutory visit",
        ),
        end=("child protection plan end date", "cp plan end date"),
    ),  # fmt: skip
    8: ListDates(
        start=("date started to be looked after", "date child became looked after", "date became looked after"),
        activity=(
            "date of latest statutory review",
            "date of last social work visit",
            "date of last iro visit contact to the child",
            "date of the last statutory visit",
            "date of latest statutory visit",
            "date of last visit",
            "date of latest visit",
            "date of latest review",
            "date of latest looked after review",
        ),
        end=("date ceased to be looked after",),
    ),  # fmt: skip
    9: ListDates(
        start=("date started to receive care leaver services", "date became a care leaver"),
        activity=(
            "latest pathway plan review date",
            "latest date of contact",
            "date of latest contact",
            "latest contact date",
            "date of last contact",
        ),
    ),
    10: ListDates(
        start=("date the child entered care", "date child entered care"),
        activity=(
            "date of decision that child should be placed for adoption",
            "date of placement order",
            "date of matching child and prospective adopters",
            "date placed for adoption",
            "date of adoption order",
            "date of decision that child should no longer be placed for adoption",
            "date the child was placed for fostering in ffa or concurrent planning placement",
        ),
        end=("date of adoption order", "date of decision that child should no longer be placed for adoption"),
    ),
}

# The lists the guidance gives no allocated worker (see LIST_DATES).
WITHOUT_WORKER = {2: "early help", 10: "adoption"}
_EXCEL_EPOCH = date(1899, 12, 30)
_TEXT_DATES = (
    "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %b %Y", "%d %B %Y", "%d/%m/%y", "%d-%b-%Y", "%d-%B-%Y",
    "%d-%b-%y", "%d %b %y",
)  # fmt: skip
_CODE = re.compile(r"^\s*[a-z0-9]{1,2}\)\s*", re.IGNORECASE)


def words(text: object) -> str:
    """``text`` as lowercase words separated by single spaces, accents dropped: how headers and names are
    compared."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", plain.casefold()).strip()


def name_words(name: str) -> str:
    """A worker's name as ``words``, written "Forename Surname" whichever way it came: "Surname, Forename"
    turned round, and a note in brackets ("(Agency)", "(Locum)") dropped."""
    plain = re.sub(r"\([^)]*\)", " ", name)
    if plain.count(",") == 1:
        surname, forename = plain.split(",")
        plain = f"{forename} {surname}"
    return words(plain)


def _blank(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def decoded(value: object) -> str | None:
    """A cell as text without a leading code ("b) Female" -> "Female"); None when blank."""
    if _blank(value):
        return None
    text = _CODE.sub("", str(value)).strip()
    return re.sub(r"\s+", " ", text) or None


def date_text(value: object) -> str | None:
    """A date cell as ISO text: Excel dates, Excel serial numbers and the usual UK text forms; other text is
    returned as it was, so the checks name it; None when blank."""
    if _blank(value):
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return (_EXCEL_EPOCH + timedelta(days=int(value))).isoformat()
    text = str(value).strip()
    for form in _TEXT_DATES:
        try:
            return datetime.strptime(text.split(" 00:00")[0], form).date().isoformat()
        except ValueError:
            continue
    return text or None


def list_number(sheet: str) -> int | None:
    """The Annex A list a sheet holds, from its name ("List 7 - Child Protection", "List_4", "L7", "list7",
    "8. Children Looked After")."""
    name = sheet.strip()
    found = re.search(r"(?:\blist|^l)[\s_.\-]*(\d{1,2})(?!\d)", name, re.IGNORECASE) or re.match(
        r"(\d{1,2})\s*[.):\-]\s*\D", name
    )
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class AnnexA:
    """An Annex A workbook read into cases.

    ``cases``: the canonical case columns as text. ``problems``: rows that did not become cases, with
    ``case_ref`` (or "List N row R" without a child id), ``list`` and ``reason``. ``workers``: each allocated
    worker's name that matched no one or several, with ``outcome``, ``candidates`` and ``rows``.
    """

    cases: pd.DataFrame
    problems: pd.DataFrame
    workers: pd.DataFrame


class AnnexAError(Exception):
    """The workbook cannot be used at all: the message says why, in plain words."""


def read_annex_a(path: Path, lists: Mapping[int, str], staff: pd.DataFrame) -> AnnexA:
    """Read the configured lists (list number -> audit type id) of the Annex A workbook at ``path`` against
    the canonical staff list ``staff`` (text columns ``staff_id``, ``name``, ``team``, ``area``)."""
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except (OSError, ValueError) as error:
        raise AnnexAError(f"{path}: cannot be read as an Annex A workbook: {error}") from None
    named: dict[int, list[str]] = {}
    for name in sheets:
        if (number := list_number(name)) is not None:
            named.setdefault(number, []).append(name)
    twice = {number: names for number, names in named.items() if number in lists and len(names) > 1}
    if twice:
        shown = "; ".join(f"list {n}: {', '.join(repr(name) for name in names)}" for n, names in sorted(twice.items()))
        raise AnnexAError(
            f"{path}: more than one sheet for the same list ({shown}); keep one sheet per list (copy the rows "
            "of the others into it), so that no row is read twice or left out"
        )
    found = {number: sheets[names[0]] for number, names in named.items()}
    missing = sorted(set(lists) - set(found))
    if missing:
        raise AnnexAError(
            f"{path}: no sheet for list(s) {missing}; the sheets are {list(sheets)} (names should start 'List N')"
        )
    people = _Staff(staff)
    cases, problems = [], []
    for number, audit_type in sorted(lists.items()):
        rows, trouble = _read_list(number, audit_type, found[number], people)
        cases += rows
        problems += trouble
    columns = SCHEMAS[Dataset.CASES].names
    return AnnexA(
        pd.DataFrame(cases, columns=columns),
        pd.DataFrame(problems, columns=["case_ref", "list", "reason"]),
        people.unmatched(),
    )


class _Staff:
    """The staff list as the matching needs it: names by their words, teams and their areas."""

    def __init__(self, staff: pd.DataFrame) -> None:
        self.by_name: dict[str, list[str]] = {}
        for staff_id, name in zip(staff["staff_id"], staff["name"], strict=True):
            self.by_name.setdefault(name_words(str(name)), []).append(str(staff_id))
        self.team_of = dict(zip(staff["staff_id"].astype(str), staff["team"], strict=True))
        self.teams = {words(team): team for team in staff["team"].dropna()}
        self.area_of = {team: area for team, area in zip(staff["team"], staff["area"], strict=True) if pd.notna(team)}
        self.misses: dict[tuple[str, str], dict[str, Any]] = {}

    def match(self, name: str) -> tuple[str | None, str | None]:
        """The staff id for ``name``, or None and the reason."""
        candidates = self.by_name.get(name_words(name), [])
        if len(candidates) == 1:
            return candidates[0], None
        outcome = "matches no one in the staff list" if not candidates else "matches more than one member of staff"
        miss = self.misses.setdefault((name, outcome), {"candidates": ", ".join(candidates), "rows": 0})
        miss["rows"] += 1
        reason = f"the allocated worker {outcome}"
        return None, reason + (f" ({', '.join(candidates)})" if candidates else "")

    def unmatched(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"name": name, "outcome": outcome, **miss} for (name, outcome), miss in self.misses.items()],
            columns=["name", "outcome", "candidates", "rows"],
        )


def _header_row(raw: pd.DataFrame) -> int | None:
    for index in range(min(len(raw), 15)):
        if any(words(cell) in CHILD_ID for cell in raw.iloc[index] if isinstance(cell, str)):
            return index
    return None


def _column(headers: list[str], names: Iterable[str]) -> int | None:
    for name in names:
        if name in headers:
            return headers.index(name)
    return None


def _read_list(
    number: int, audit_type: str, raw: pd.DataFrame, people: _Staff
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    header = _header_row(raw)
    if header is None:
        raise AnnexAError(f"List {number}: no header row with a child id column ({', '.join(CHILD_ID)})")
    headers = [words(cell) if isinstance(cell, str) else "" for cell in raw.iloc[header]]
    child, team, worker = (_column(headers, names) for names in (CHILD_ID, TEAM, WORKER))
    dates = LIST_DATES.get(number, ListDates((), ()))
    starts = [i for i in (_column(headers, [n]) for n in dates.start) if i is not None]
    activity = [i for i in (_column(headers, [n]) for n in dates.activity) if i is not None]
    ends = [i for i in (_column(headers, [n]) for n in dates.end) if i is not None]
    if worker is None or not activity:
        hint = (
            f" (the guidance's List {number}, {WITHOUT_WORKER[number]}, has no allocated worker: add the Allocated "
            "Team and Allocated Worker columns to the export to audit it)"
            if worker is None and number in WITHOUT_WORKER
            else ""
        )
        raise AnnexAError(
            f"List {number}: needs an allocated worker column ({' / '.join(WORKER)}) and a latest-activity date "
            f"({' / '.join(dates.activity)}); found headers {[h for h in headers if h]}{hint}"
        )
    cases, problems = [], []
    for offset, row in enumerate(raw.iloc[header + 1 :].itertuples(index=False), start=header + 2):
        cells = list(row)
        if all(_blank(cell) for cell in cells):
            continue
        child_id = decoded(cells[child]) if child is not None else None
        case_ref = f"{child_id}-L{number}" if child_id else f"List {number} row {offset}"
        if not child_id:
            problems.append({"case_ref": case_ref, "list": number, "reason": "no child unique id"})
            continue
        name = decoded(cells[worker])
        if not name:
            problems.append({"case_ref": case_ref, "list": number, "reason": "no allocated worker"})
            continue
        staff_id, why = people.match(name)
        if staff_id is None:
            problems.append({"case_ref": case_ref, "list": number, "reason": why})
            continue
        given_team = decoded(cells[team]) if team is not None else None
        # A blank (or unknown) team is the worker's own team in the staff list.
        team_name = people.teams.get(words(given_team), given_team) if given_team else people.team_of.get(staff_id)
        start = next((d for d in (date_text(cells[i]) for i in starts) if d), None)
        latest = [d for d in (date_text(cells[i]) for i in activity) if d]
        unreadable = [d for d in latest if not _iso(d)]
        cases.append(
            {
                "case_ref": case_ref,
                "person_ref": child_id,
                "audit_type": audit_type,
                "area": people.area_of.get(team_name),
                "team": team_name,
                "worker_id": staff_id,
                "start_date": start or (latest[0] if latest else None),
                # A date that cannot be read is kept as written, so that the checks name it.
                "last_activity_date": unreadable[0]
                if unreadable
                else max([d for d in [*latest, start] if d and _iso(d)], default=start),
                "end_date": next((d for d in (date_text(cells[i]) for i in ends) if d), None),
            }
        )
    return _episodes(cases), problems


def _episodes(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One case per episode: a child listed more than once in a list (one row per assessment, say) gets a
    case per row, its reference the child, the list and the episode's start date."""
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["case_ref"]] = counts.get(case["case_ref"], 0) + 1
    return [
        {**case, "case_ref": f"{case['case_ref']}-{case['start_date']}"} if counts[case["case_ref"]] > 1 else case
        for case in cases
    ]


def _iso(text: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))
