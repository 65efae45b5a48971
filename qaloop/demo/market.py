"""A synthetic commissioned care market for the demo, in the layouts councils and CQC publish: a few hundred care homes
(with and without nursing), home-care agencies and supported-living services with a year of intelligence, most of
them unremarkable, a handful drifting into concern (a poor inspection, safeguarding concerns and complaints, returns
missing, overdue improvement actions, a suspension, CQC moving to cancel one's registration, a serious safeguarding
concern last week) and one recovering (re-inspected Good, its plan completed, its suspension lifted).

``generate_market`` gives the datasets' canonical frames; the CQC ratings are written as the CQC care directory's
"latest ratings" file with every one of its columns (other councils' locations and population-group rows included),
the rest through the configured sources' own column names and words. ``play_panel`` runs the stored market through
two months of the quality review panel, as `make demo` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from qaloop.core.months import last_month
from qaloop.core.schema import CQC_KEY_QUESTIONS, SCHEMAS, Dataset
from qaloop.core.settings import CsvSource, Settings
from qaloop.demo.synthetic import write_frame
from qaloop.providers import record
from qaloop.providers.market import market_figures, next_pack
from qaloop.providers.record import Placed, quality_of
from qaloop.providers.urgent import raise_urgent
from qaloop.reporting.provider_reports import ProviderReports, write_provider_reports

# The CQC care directory with ratings, as CQC publishes it (one row per location, service or population group
# and domain).
CQC_COLUMNS = [
    "Location ID", "Location ODS Code", "Location Name", "Care Home?", "Location Type",
    "Location Primary Inspection Category", "Location Street Address", "Location Address Line 2", "Location City",
    "Location Post Code", "Location Local Authority", "Location Region", "Location NHS Region",
    "Location ONSPD CCG Code", "Location ONSPD CCG", "Location Commissioning CCG Code",
    "Location Commissioning CCG Name", "Service / Population Group", "Domain", "Latest Rating", "Publication Date",
    "Report Type", "Inherited Rating (Y/N)", "URL", "Provider ID", "Provider Name", "Brand ID", "Brand Name",
]  # fmt: skip
_TYPES = np.array(["care_home", "nursing_home", "home_care", "supported_living"])
_TYPE_SHARES = [0.45, 0.2, 0.25, 0.1]
_NAMES = ["Oak", "Elm", "Ash", "Willow", "Birch", "Cedar", "Rowan", "Hazel", "Beech", "Holly", "Alder", "Maple"]
_PLACES = ["House", "Court", "Lodge", "View", "Manor", "Grange", "Gardens", "Park"]
_SUFFIX = {"care_home": "", "nursing_home": " Nursing", "home_care": " Care at Home", "supported_living": " Living"}
_DRIFTING, _RECOVERING = 6, 1


@dataclass(frozen=True)
class SyntheticMarket:
    """The market's canonical frames, and which providers the story is about."""

    frames: dict[Dataset, pd.DataFrame]
    drifting: list[str]
    recovering: str
    as_of: date


def generate_market(settings: Settings, *, as_of: date, seed: int = 1, providers: int = 240) -> SyntheticMarket:
    """A market of ``providers`` services in the configured areas as of ``as_of``; the same inputs give the same
    market."""
    rng = np.random.default_rng(seed)
    areas = [area.code for area in settings.authority.areas]
    types = rng.choice(_TYPES, providers, p=_TYPE_SHARES)
    homes = np.isin(types, ["care_home", "nursing_home"])
    refs = [f"1-{n}" for n in rng.choice(np.arange(100_000_000, 999_999_999), providers, replace=False)]
    commissioner = rng.choice(["council", "joint", "icb"], providers, p=[0.6, 0.3, 0.1])
    names = [
        f"{_NAMES[i % len(_NAMES)]} {_PLACES[(i // len(_NAMES)) % len(_PLACES)]}{_SUFFIX[kind]}"
        + (f" {i // (len(_NAMES) * len(_PLACES)) + 1}" if i >= len(_NAMES) * len(_PLACES) else "")
        for i, kind in enumerate(types)
    ]
    listing = pd.DataFrame(
        {
            "location_id": refs,
            "provider_id": [f"1-{n}" for n in rng.integers(100_000_000, 999_999_999, providers)],
            "name": names,
            "service_type": types,
            "size": np.where(homes, rng.integers(8, 90, providers), rng.integers(100, 1500, providers)),
            "area": rng.choice(areas, providers),
            "commissioned_by": commissioner,
            "lead_organisation": np.where(commissioner == "joint", rng.choice(["council", "icb"], providers), None),
            "contract_ref": [f"CON-{n:05d}" for n in range(providers)],
            "contact_email": [
                None if rng.random() < 0.03 else f"quality.{ref.replace('-', '')}@care-provider.example" for ref in refs
            ],
        }
    )
    # The story: the first homes in the list drift into concern; the next one recovers.
    home_refs = [ref for ref, home in zip(refs, homes, strict=True) if home]
    drifting, recovering = home_refs[:_DRIFTING], home_refs[_DRIFTING]
    day = pd.Timestamp(as_of)
    frames = {
        Dataset.PROVIDERS: listing,
        Dataset.CQC_RATINGS: _ratings(rng, listing, drifting, recovering, day),
        Dataset.CQC_ENFORCEMENT: _enforcement(drifting, day),
        Dataset.PROVIDER_CONCERNS: _concerns(rng, listing, drifting, day),
        Dataset.MONITORING_RETURNS: _returns(rng, listing, drifting, settings, as_of),
        Dataset.CONTRACT_NOTICES: _notices(rng, listing, drifting, recovering, day),
        Dataset.IMPROVEMENT_ACTIONS: _actions(rng, listing, drifting, recovering, day),
        Dataset.MONITORING_ACTIVITIES: _activities(rng, listing, drifting, day),
        Dataset.PROVIDER_FEEDBACK: _feedback(rng, listing, drifting, day),
    }
    for dataset, frame in frames.items():
        assert list(frame.columns) == SCHEMAS[dataset].names, dataset
    return SyntheticMarket(frames, drifting, recovering, as_of)


def _days_ago(day: pd.Timestamp, days: np.ndarray | int) -> pd.Series:
    return pd.Series(day - pd.to_timedelta(np.atleast_1d(days), unit="D")).dt.date


def _ratings(
    rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], recovering: str, day: pd.Timestamp
) -> pd.DataFrame:
    rows = []
    published = _days_ago(day, rng.integers(90, 1200, len(listing)))
    overall = rng.choice(["Outstanding", "Good", "Requires improvement", "Inadequate"], len(listing),
                         p=[0.08, 0.8, 0.1, 0.02])  # fmt: skip
    for ref, rating, on in zip(listing["location_id"], overall, published, strict=True):
        if ref in drifting:
            rating, on = ("Inadequate" if drifting.index(ref) < 2 else "Requires improvement"), _days_ago(day, 40)[0]
        if ref == recovering:
            rating, on = "Good", _days_ago(day, 25)[0]
        rows.append((ref, "Overall", rating, on))
        for question in CQC_KEY_QUESTIONS:
            worse = rating in ("Inadequate", "Requires improvement") and question in ("Safe", "Well-led")
            shown = (
                rating if worse else ("Requires improvement" if rng.random() < 0.01 and ref != recovering else "Good")
            )
            rows.append((ref, question, "Outstanding" if rating == "Outstanding" else shown, on))
    return pd.DataFrame(rows, columns=["location_id", "domain", "rating", "published_on"]).assign(
        service_group="Overall"
    )


def _enforcement(drifting: list[str], day: pd.Timestamp) -> pd.DataFrame:
    rows = [
        ("ENF-0001", drifting[0], "notice of proposal to cancel", _days_ago(day, 6)[0]),
        ("ENF-0002", drifting[1], "warning notice", _days_ago(day, 45)[0]),
        ("ENF-0003", drifting[2], "requirement notice", _days_ago(day, 60)[0]),
    ]
    return pd.DataFrame(rows, columns=["action_ref", "location_id", "action", "served_on"])


def _concerns(rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], day: pd.Timestamp) -> pd.DataFrame:
    rows = []
    per_year = np.where(listing["service_type"].isin(["care_home", "nursing_home"]), 0.04, 0.002) * listing["size"]
    for ref, rate in zip(listing["location_id"], per_year, strict=True):
        for kind, share in (("safeguarding", 1.0), ("quality", 0.5)):
            for when in rng.integers(1, 420, rng.poisson(rate * share * 420 / 365)):
                rows.append(
                    (ref, kind, _days_ago(day, int(when))[0], bool(kind == "safeguarding" and rng.random() < 0.01))
                )
    for ref in drifting:  # concerns piling up in the last three months
        rows += [(ref, "safeguarding", _days_ago(day, int(when))[0], False) for when in rng.integers(10, 90, 6)]
        rows += [(ref, "quality", _days_ago(day, int(when))[0], False) for when in rng.integers(10, 150, 3)]
    rows.append((drifting[3], "safeguarding", _days_ago(day, 4)[0], True))  # flagged serious last week
    frame = pd.DataFrame(rows, columns=["location_id", "concern", "raised_on", "serious"]).sort_values("raised_on")
    frame.insert(0, "concern_ref", [f"{'SG' if kind == 'safeguarding' else 'QC'}-{n:05d}"
                                    for n, kind in enumerate(frame["concern"])])  # fmt: skip
    # Old concerns raised before their flag was recorded: unflagged (blank), as a council's log holds them.
    frame["serious"] = frame["serious"].astype(object).where(frame["raised_on"] > _days_ago(day, 365)[0], None)
    return frame.reset_index(drop=True)


def _months_up_to(as_of: date, count: int) -> list[str]:
    last = pd.Period(as_of, freq="M") - 1
    return [str(last - back) for back in range(count - 1, -1, -1)]


def _returns(
    rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], settings: Settings, as_of: date
) -> pd.DataFrame:
    due_day = settings.provider_quality.returns_due_day if settings.provider_quality else 10
    rows = []
    for month in _months_up_to(as_of, 12):
        due = (pd.Period(month, freq="M") + 1).to_timestamp().date().replace(day=due_day)
        for ref in listing["location_id"]:
            late_month = ref in drifting[:4] and month in _months_up_to(as_of, 2)
            sent = due - timedelta(days=int(rng.integers(0, 9)))
            received = None if late_month or rng.random() < 0.02 or sent > as_of else sent
            rows.append((ref, month, received))
    return pd.DataFrame(rows, columns=["location_id", "month", "received_on"])


def _notices(
    rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], recovering: str, day: pd.Timestamp
) -> pd.DataFrame:
    rows = [
        ("CN-0001", drifting[1], "placement suspension", _days_ago(day, 120)[0], None),
        ("CN-0002", drifting[4], "default", _days_ago(day, 50)[0], None),
        ("CN-0003", recovering, "placement suspension", _days_ago(day, 300)[0], _days_ago(day, 35)[0]),
    ]
    for n, ref in enumerate(rng.choice(listing["location_id"], 5, replace=False)):
        start = int(rng.integers(200, 400))
        rows.append((f"CN-{n + 4:04d}", ref, "advisory", _days_ago(day, start)[0], _days_ago(day, start - 90)[0]))
    return pd.DataFrame(rows, columns=["notice_ref", "location_id", "notice", "served_on", "ends_on"])


def _actions(
    rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], recovering: str, day: pd.Timestamp
) -> pd.DataFrame:
    rows = []
    for ref in [*drifting, recovering]:
        for _ in range(5):
            due = _days_ago(day, int(rng.integers(-60, 150)))[0]
            done = ref == recovering or (due < day.date() and rng.random() < 0.3)
            rows.append((ref, due, min(due, day.date()) if done else None))
    frame = pd.DataFrame(rows, columns=["location_id", "due_on", "completed_on"])
    frame.insert(0, "action_ref", [f"SIP-{n:04d}" for n in range(len(frame))])
    return frame


def _activities(
    rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], day: pd.Timestamp
) -> pd.DataFrame:
    rows = []
    for ref in listing["location_id"]:
        rows.append(
            (ref, str(rng.choice(["annual contact", "announced visit"])), _days_ago(day, int(rng.integers(5, 400)))[0])
        )
        if rng.random() < 0.9:
            rows.append((ref, "self-assessment", _days_ago(day, int(rng.integers(5, 390)))[0]))
    rows += [(ref, "unannounced visit", _days_ago(day, 20)[0]) for ref in drifting[:2]]
    frame = pd.DataFrame(rows, columns=["location_id", "activity", "done_on"])
    frame.insert(0, "activity_ref", [f"MV-{n:05d}" for n in range(len(frame))])
    return frame


def _feedback(rng: np.random.Generator, listing: pd.DataFrame, drifting: list[str], day: pd.Timestamp) -> pd.DataFrame:
    rows = []
    for ref in listing["location_id"]:
        complaints, upheld = (rng.poisson(2.5), 0.6) if ref in drifting else (rng.poisson(0.4), 0.3)
        rows += [(ref, "complaint", _days_ago(day, int(when))[0], bool(rng.random() < upheld))
                 for when in rng.integers(1, 365, complaints)]  # fmt: skip
        rows += [
            (ref, "compliment", _days_ago(day, int(when))[0], None) for when in rng.integers(1, 365, rng.poisson(1.2))
        ]
    frame = pd.DataFrame(rows, columns=["location_id", "feedback", "received_on", "upheld"])
    frame.insert(0, "feedback_ref", [f"FB-{n:05d}" for n in range(len(frame))])
    return frame


def write_directory(market: SyntheticMarket, path: Path, authority: str) -> Path:
    """The CQC ratings as the CQC care directory's "latest ratings" file: every column, a row per location and
    domain, population-group rows beside some, and other councils' locations."""
    ratings = market.frames[Dataset.CQC_RATINGS]
    names = market.frames[Dataset.PROVIDERS].set_index("location_id")["name"]
    rows = [
        _directory_row(row.location_id, names[row.location_id], "Overall", row.domain, row.rating, row.published_on,
                       authority)
        for row in ratings.itertuples(index=False)
    ]  # fmt: skip
    for ref in list(names.index[::10]):
        rows.append(_directory_row(ref, names[ref], "Older People", "Overall", "Good", market.as_of, authority))
    for n in range(20):
        rows.append(_directory_row(f"1-9{n:08d}", f"Elsewhere {n}", "Overall", "Overall", "Good", market.as_of,
                                   "Shropshire"))  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=CQC_COLUMNS).to_csv(path, index=False)
    return path


def _directory_row(
    ref: str, name: str, group: str, domain: str, rating: str, published: date, authority: str
) -> dict[str, str]:
    row = dict.fromkeys(CQC_COLUMNS, "")
    row.update({
        "Location ID": ref, "Location Name": name, "Care Home?": "Y", "Location Type": "Social Care Org",
        "Location Primary Inspection Category": "Residential social care", "Location Local Authority": authority,
        "Location Region": "West Midlands", "Service / Population Group": group, "Domain": domain,
        "Latest Rating": rating, "Publication Date": f"{published:%d/%m/%Y}", "Report Type": "Location",
        "Inherited Rating (Y/N)": "N", "URL": f"https://www.cqc.org.uk/location/{ref}",
        "Provider ID": "1-" + ref[2:] + "0", "Provider Name": "A Care Company Ltd",
    })  # fmt: skip
    return row


def write_market(market: SyntheticMarket, settings: Settings) -> dict[Dataset, Path]:
    """Write the market to the configured CSV sources (the CQC ratings as the CQC directory), in each source's
    column names, words and date format; datasets without a CSV source are skipped."""
    written = {}
    for dataset, frame in market.frames.items():
        source = settings.sources.get(dataset)
        if not isinstance(source, CsvSource):
            continue
        if dataset is Dataset.CQC_RATINGS:
            written[dataset] = write_directory(market, source.path, settings.authority.name)
        else:
            written[dataset] = write_frame(frame, dataset, source)
    return written


@dataclass(frozen=True)
class PanelPlayed:
    """What the demo's panel did: the months proposed, the decisions recorded, the urgent reviews raised and the
    reports written."""

    proposed: dict[str, list[Placed]]
    decided: list[str]
    urgent: list[str]
    reports: ProviderReports


def play_panel(engine: Engine, settings: Settings, today: date, seed: int = 1) -> PanelPlayed:
    """The market written by ``generate_market`` (same ``today`` and ``seed``) run through two months of the
    panel: the month before last proposed and the recovering provider held at level 3 by the panel; last month
    proposed, its major concerns raised as urgent reviews, and the panel's decision on the provider CQC moves to
    cancel; then the pack for the next meeting and the dashboard written."""
    story = generate_market(settings, as_of=today, seed=seed)
    joint = set(story.frames[Dataset.PROVIDERS].query("commissioned_by == 'joint'")["location_id"])
    last = last_month(today)
    before = last_month(record.month_end(last).replace(day=1))
    proposed = {before: record.propose_month(engine, settings, before, today)}

    def decide(ref: str, month: str, level: int, reason: str) -> str:
        said = record.decide(engine, settings, ref, month, level, "QT-0001", reason,
                             "ICB-0042" if ref in joint else None)  # fmt: skip
        return f"{ref}, {month}: {said}"

    decided = [decide(story.recovering, before, 3, "Panel: held at level 3 while the suspension is reviewed")]
    proposed[last] = record.propose_month(engine, settings, last, today)
    urgent = [f"{cause.location_id}: {cause.says}" for cause in raise_urgent(engine, settings, today)]
    decided.append(decide(story.drifting[0], last, 3, "Panel: escalate to level 3; CQC proposes to cancel"))
    coming = next_pack(quality_of(settings), today)
    figures = market_figures(engine, settings, last, today)
    return PanelPlayed(
        proposed, decided, urgent, write_provider_reports(settings, figures, coming[0] if coming else None)
    )
