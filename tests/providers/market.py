"""A small commissioned market written in the layouts councils and CQC publish: the CQC care directory's
"latest ratings" file with every one of its columns (other councils' locations and population-group rows
included), and a council's contract, concerns, monitoring, visits and complaints logs under their own headings,
mapped.

``with_market(settings, folder)`` writes the files under ``folder`` and returns the settings that read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from qaloop.core.schema import Dataset
from qaloop.core.settings import CsvSource, ProviderQuality, Settings
from qaloop.demo.market import CQC_COLUMNS

KEY_QUESTIONS = ["Safe", "Effective", "Caring", "Responsive", "Well-led"]

# The council's providers: location id, name, the contract log's service type, beds or hours, area, commissioner.
PROVIDERS = [
    ("1-1001", "Oak House", "Residential", 30, "NE", "Council"),
    ("1-1002", "Elm Court Nursing", "Nursing", 60, "MID", "Joint"),
    ("1-1003", "Ash Lodge", "Residential", 12, "SOUTH", "Council"),
    ("1-1004", "Willow Care at Home", "Domiciliary", 400, "WEST", "ICB"),
    ("1-1005", "Birch View", "Residential", 40, "NE", "Council"),
    ("1-1006", "Cedar Supported Living", "Supported living", 150, "MID", "Council"),
]
# Each location's overall rating and one key question's, where not Good: (overall, {question: rating}, published).
RATINGS: dict[str, tuple[str, dict[str, str], str]] = {
    "1-1001": ("Good", {}, "14/03/2025"),
    "1-1002": ("Requires improvement", {"Safe": "Requires improvement"}, "02/09/2026"),
    "1-1003": ("Inadequate", {"Safe": "Inadequate", "Well-led": "Inadequate"}, "20/10/2026"),
    "1-1004": ("Good", {}, "11/11/2024"),
    "1-1005": ("Outstanding", {}, "05/05/2026"),
    "1-1006": ("Good", {"Responsive": "Requires improvement"}, "30/06/2026"),
}


def _directory_row(location_id: str, group: str, domain: str, rating: str, published: str) -> dict[str, Any]:
    row = {column: "" for column in CQC_COLUMNS}
    row.update(
        {
            "Location ID": location_id,
            "Location Name": f"Location {location_id}",
            "Care Home?": "Y",
            "Location Type": "Social Care Org",
            "Location Primary Inspection Category": "Residential social care",
            "Location Local Authority": "Demo County",
            "Location Region": "West Midlands",
            "Service / Population Group": group,
            "Domain": domain,
            "Latest Rating": rating,
            "Publication Date": published,
            "Report Type": "Location",
            "Inherited Rating (Y/N)": "N",
            "URL": f"https://www.cqc.org.uk/location/{location_id}",
            "Provider ID": "1-" + location_id[2:] + "0",
            "Provider Name": "A Care Company Ltd",
        }
    )
    return row


def directory() -> pd.DataFrame:
    """The CQC directory's rows: the council's six locations, two other councils' locations, and population
    group rows for one of the council's."""
    rows = []
    for location_id, (overall, questions, published) in RATINGS.items():
        rows.append(_directory_row(location_id, "Overall", "Overall", overall, published))
        for question in KEY_QUESTIONS:
            rows.append(_directory_row(location_id, "Overall", question, questions.get(question, "Good"), published))
    for elsewhere in ("1-9001", "1-9002"):
        rows += [_directory_row(elsewhere, "Overall", domain, "Good", "01/01/2026") for domain in ["Overall"]]
    rows.append(_directory_row("1-1002", "Older People", "Overall", "Good", "02/09/2026"))
    return pd.DataFrame(rows, columns=CQC_COLUMNS)


def contract_log() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "CQC Location ID": ref,
                "CQC Provider ID": "1-" + ref[2:] + "0",
                "Service Name": name,
                "Service Type": kind,
                "Beds / Hours": str(size),
                "Locality": area,
                "Commissioned By": commissioner,
                "Lead Commissioner": "Council" if commissioner == "Joint" else "",
                "Contract Ref": f"CON-{ref[2:]}",
                "Contact Email": "" if ref == "1-1004" else f"quality+{ref[2:]}@care-provider.example",
            }
            for ref, name, kind, size, area, commissioner in PROVIDERS
        ]
    )


def concerns_log() -> pd.DataFrame:
    rows = [("SG-1", "1-1002", "Safeguarding", "03/10/2026", "No")]
    rows += [(f"QC-{n}", "1-1005", "Quality", f"{n + 1:02d}/10/2026", "No") for n in range(3)]
    rows += [("SG-9", "1-1004", "Safeguarding", "15/11/2026", "Yes")]
    return pd.DataFrame(rows, columns=["Reference", "CQC Location", "Type", "Date Raised", "Serious?"])


def monitoring_log() -> pd.DataFrame:
    rows = []
    for ref, *_ in PROVIDERS:
        for month in ("2026-08", "2026-09", "2026-10"):
            late = ref == "1-1006" and month != "2026-08"
            rows.append((ref, month, "" if late else f"05/{int(month[5:]) + 1:02d}/2026"))
    return pd.DataFrame(rows, columns=["CQC Location", "Return Month", "Date Received"])


def notices_log() -> pd.DataFrame:
    rows = [
        ("CN-1", "1-1003", "Placement suspension", "01/05/2026", ""),
        ("CN-2", "1-1001", "Default", "01/02/2025", "01/06/2025"),
    ]
    return pd.DataFrame(rows, columns=["Notice Ref", "CQC Location", "Notice", "Served", "Lifted"])


def enforcement_log(*more: tuple[str, str, str, str]) -> pd.DataFrame:
    rows = [("ENF-1", "1-1003", "Warning notice", "25/10/2026"), *more]
    return pd.DataFrame(rows, columns=["Action Ref", "CQC Location", "Action", "Served"])


def actions_log() -> pd.DataFrame:
    rows = [
        ("SIP-1", "1-1002", "01/10/2026", ""),
        ("SIP-2", "1-1002", "01/09/2026", "28/08/2026"),
        ("SIP-3", "1-1002", "07/12/2026", ""),
    ]
    return pd.DataFrame(rows, columns=["Action Ref", "CQC Location", "Due", "Completed"])


def activities_log() -> pd.DataFrame:
    rows = [
        ("MV-1", "1-1001", "Annual contact", "10/01/2026"),
        ("MV-2", "1-1002", "Announced visit", "01/11/2025"),
        ("MV-3", "1-1003", "Unannounced visit", "05/11/2026"),
        ("MV-4", "1-1005", "Annual contact", "01/06/2026"),
        ("MV-5", "1-1006", "Announced visit", "15/03/2026"),
        ("SA-1", "1-1001", "Self-assessment", "01/04/2026"),
        ("SA-2", "1-1006", "Self-assessment", "20/11/2025"),
    ]
    return pd.DataFrame(rows, columns=["Ref", "CQC Location", "Activity", "Date"])


def feedback_log() -> pd.DataFrame:
    rows = [
        ("CMP-1", "1-1002", "Complaint", "12/08/2026", "Upheld"),
        ("CMP-2", "1-1002", "Complaint", "03/11/2026", "Not upheld"),
        ("CPL-1", "1-1002", "Compliment", "20/09/2026", ""),
        ("CPL-2", "1-1005", "Compliment", "01/10/2026", ""),
    ]
    return pd.DataFrame(rows, columns=["Ref", "CQC Location", "Type", "Received", "Outcome"])


def _csv(folder: Path, name: str, frame: pd.DataFrame, columns: dict[str, Any]) -> CsvSource:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return CsvSource(kind="csv", path=path, date_format="%d/%m/%Y", columns=columns)


CANCEL_NOTICE = ("ENF-2", "1-1005", "Notice of proposal to cancel", "28/11/2026")


def market_sources(folder: Path, *enforcement: tuple[str, str, str, str]) -> dict[Dataset, CsvSource]:
    """The market's files written under ``folder`` (with more CQC ``enforcement`` rows when given), and the
    sources that read them."""
    return {
        Dataset.PROVIDERS: _csv(
            folder,
            "contracts.csv",
            contract_log(),
            {
                "location_id": "CQC Location ID",
                "provider_id": "CQC Provider ID",
                "name": "Service Name",
                "service_type": {
                    "from": "Service Type",
                    "values": {
                        "Residential": "care_home",
                        "Nursing": "nursing_home",
                        "Domiciliary": "home_care",
                        "Supported living": "supported_living",
                    },
                },
                "size": "Beds / Hours",
                "area": "Locality",
                "commissioned_by": {
                    "from": "Commissioned By",
                    "values": {"Council": "council", "ICB": "icb", "Joint": "joint"},
                },
                "lead_organisation": {"from": "Lead Commissioner", "values": {"Council": "council", "ICB": "icb"}},
                "contract_ref": "Contract Ref",
                "contact_email": "Contact Email",
            },
        ),
        Dataset.CQC_RATINGS: _csv(
            folder,
            "cqc_directory.csv",
            directory(),
            {
                "location_id": "Location ID",
                "domain": "Domain",
                "rating": "Latest Rating",
                "published_on": "Publication Date",
                "service_group": "Service / Population Group",
            },
        ),
        Dataset.CQC_ENFORCEMENT: _csv(
            folder,
            "enforcement.csv",
            enforcement_log(*enforcement),
            {
                "action_ref": "Action Ref",
                "location_id": "CQC Location",
                "action": {
                    "from": "Action",
                    "values": {
                        "Warning notice": "warning notice",
                        "Notice of proposal to cancel": "notice of proposal to cancel",
                    },
                },
                "served_on": "Served",
            },
        ),
        Dataset.PROVIDER_CONCERNS: _csv(
            folder,
            "concerns.csv",
            concerns_log(),
            {
                "concern_ref": "Reference",
                "location_id": "CQC Location",
                "concern": {"from": "Type", "values": {"Safeguarding": "safeguarding", "Quality": "quality"}},
                "raised_on": "Date Raised",
                "serious": "Serious?",
            },
        ),
        Dataset.MONITORING_RETURNS: _csv(
            folder,
            "monitoring.csv",
            monitoring_log(),
            {"location_id": "CQC Location", "month": "Return Month", "received_on": "Date Received"},
        ),
        Dataset.CONTRACT_NOTICES: _csv(
            folder,
            "notices.csv",
            notices_log(),
            {
                "notice_ref": "Notice Ref",
                "location_id": "CQC Location",
                "notice": {
                    "from": "Notice",
                    "values": {"Placement suspension": "placement suspension", "Default": "default"},
                },
                "served_on": "Served",
                "ends_on": "Lifted",
            },
        ),
        Dataset.IMPROVEMENT_ACTIONS: _csv(
            folder,
            "improvement_actions.csv",
            actions_log(),
            {"action_ref": "Action Ref", "location_id": "CQC Location", "due_on": "Due", "completed_on": "Completed"},
        ),
        Dataset.MONITORING_ACTIVITIES: _csv(
            folder,
            "visits.csv",
            activities_log(),
            {
                "activity_ref": "Ref",
                "location_id": "CQC Location",
                "activity": {
                    "from": "Activity",
                    "values": {
                        "Annual contact": "annual contact",
                        "Announced visit": "announced visit",
                        "Unannounced visit": "unannounced visit",
                        "Contract monitoring meeting": "contract monitoring meeting",
                        "Self-assessment": "self-assessment",
                    },
                },
                "done_on": "Date",
            },
        ),
        Dataset.PROVIDER_FEEDBACK: _csv(
            folder,
            "feedback.csv",
            feedback_log(),
            {
                "feedback_ref": "Ref",
                "location_id": "CQC Location",
                "feedback": {"from": "Type", "values": {"Complaint": "complaint", "Compliment": "compliment"}},
                "received_on": "Received",
                "upheld": {"from": "Outcome", "values": {"Upheld": "yes", "Not upheld": "no"}},
            },
        ),
    }


def with_market(settings: Settings, folder: Path, *enforcement: tuple[str, str, str, str]) -> Settings:
    """``settings`` reading the market written under ``folder`` (with more CQC ``enforcement`` rows when given),
    with Herefordshire's thresholds."""
    sources = {**settings.sources, **market_sources(folder / "market", *enforcement)}
    return settings.model_copy(update={"sources": sources, "provider_quality": ProviderQuality()})
