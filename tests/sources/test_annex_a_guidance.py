"""Annex A as the DfE / Ofsted guidance lays it out (written here, not by `qaloop demo-data`): each list's
latest activity from its standard activity dates, the header and sheet-name variants councils use, a child
listed twice in one list, dates written `16-Feb-2021`, workers written surname first, as agency staff or
without their accents; and a workbook with two sheets for one list refused, naming both."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qaloop.sources.annex_a import AnnexAError, read_annex_a

STAFF = pd.DataFrame(
    {
        "staff_id": ["S1", "S2", "S3", "S4", "S5"],
        "name": ["Amy Jones", "Zoë Clarke", "Ben Okafor", "Priya Shah", "Tom Reid"],
        "team": ["Assessment Team", "Assessment Team", "Safeguarding Team", "Children in Care Team", "Leaving Care"],
        "area": ["REF", "REF", "CIN", "LAC", "LAC"],
    }
)
LISTS = {4: "assessment", 6: "child_in_need", 7: "child_protection", 8: "child_looked_after", 9: "care_leaver"}

# Each list under a sheet name and with the headers of the guidance (or a common variant of them); the
# activity column a test expects to be read is the one named in the comment.
SHEETS = {
    "List_4": pd.DataFrame(  # Continuous Assessment Date of Authorisation
        {
            "Unique Child Identifier": ["C001", "C001", "C002"],
            "Gender": ["a) Male", "a) Male", "b) Female"],
            "Continuous Assessment Start Date": ["03/03/2026", "01/09/2026", "16-Feb-2026"],
            "Continuous Assessment Date of Authorisation": ["20/04/2026", "10/10/2026", "16-Mar-2026"],
            "Allocated Team": ["Assessment Team", "Assessment Team", "Assessment Team"],
            "Allocated Worker Name": ["Jones, Amy", "Jones, Amy", "Zoe Clarke"],
        }
    ),
    "List 6 - Children in Need": pd.DataFrame(  # Date Child Was Last Seen
        {
            "ChildID": ["C003"],
            "CIN Start Date": ["05/01/2026"],
            "Date Child Was Last Seen": ["12/11/2026"],
            "CIN Closure Date": [None],
            "Allocated Team": ["Safeguarding Team"],
            "Social Worker": ["Ben Okafor (Agency)"],
        }
    ),
    "List 7 - Child Protection": pd.DataFrame(  # the latest of Date of the Last Statutory Visit / review conf.
        {
            "Child Unique ID": ["C004"],
            "Child Protection Plan Start Date": ["02/02/2026"],
            "Date of the Last Statutory Visit": ["14/11/2026"],
            "Date of latest review conference": ["01/10/2026"],
            "Allocated Worker": ["OKAFOR, BEN"],
        }
    ),
    "8. Children Looked After": pd.DataFrame(  # the latest of the statutory review, SW visit and IRO visit
        {
            "Child Unique ID": ["C005"],
            "Date Started to be Looked After": ["10/06/2025"],
            "Date of Latest Statutory Review": ["01/09/2026"],
            "Date of Last Social Work Visit": ["18-Nov-2026"],
            "Date of Last IRO Visit / Contact to the Child": ["02/10/2026"],
            "Allocated Worker": ["Priya Shah"],
        }
    ),
    "List 9 Care Leavers": pd.DataFrame(  # the latest of Latest Pathway Plan Review Date / Latest Date of Contact
        {
            "Child Unique ID": ["C006"],
            "Latest Pathway Plan Review Date": ["03/08/2026"],
            "Latest Date of Contact": ["19/11/2026"],
            "Allocated Personal Adviser": ["Reid, Tom"],
        }
    ),
}


def write_workbook(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def test_each_list_is_read_from_the_guidances_headers(tmp_path: Path) -> None:
    read = read_annex_a(write_workbook(tmp_path / "annex a.xlsx", SHEETS), LISTS, STAFF)
    assert read.problems.empty and read.workers.empty
    cases = read.cases.set_index("case_ref")
    assert len(cases) + len(read.problems) == sum(len(frame) for frame in SHEETS.values())  # every row a case
    # A child assessed twice: a case per assessment, each keyed by its start date.
    assert cases.loc["C001-L4-2026-03-03", "last_activity_date"] == "2026-04-20"
    assert cases.loc["C001-L4-2026-09-01", "last_activity_date"] == "2026-10-10"
    assert cases.loc["C002-L4", ["start_date", "last_activity_date"]].tolist() == ["2026-02-16", "2026-03-16"]
    assert cases.loc["C003-L6", "last_activity_date"] == "2026-11-12"
    assert cases.loc["C004-L7", "last_activity_date"] == "2026-11-14"
    assert cases.loc["C005-L8", "last_activity_date"] == "2026-11-18"
    assert cases.loc["C006-L9", "last_activity_date"] == "2026-11-19"
    # Workers written surname first, as agency staff, in capitals or without their accent.
    assert cases["worker_id"].to_dict() == {
        "C001-L4-2026-03-03": "S1",
        "C001-L4-2026-09-01": "S1",
        "C002-L4": "S2",
        "C003-L6": "S3",
        "C004-L7": "S3",
        "C005-L8": "S4",
        "C006-L9": "S5",
    }


def test_a_second_sheet_for_a_list_is_refused_naming_both(tmp_path: Path) -> None:
    sheets = {**SHEETS, "List 7 (2)": SHEETS["List 7 - Child Protection"].assign(**{"Child Unique ID": ["C099"]})}
    with pytest.raises(AnnexAError, match=r"more than one sheet for the same list \(list 7: 'List 7 - Child Pro"):
        read_annex_a(write_workbook(tmp_path / "annex a.xlsx", sheets), LISTS, STAFF)


def test_a_list_without_a_latest_activity_date_is_refused_rather_than_read_from_its_start(tmp_path: Path) -> None:
    sheets = {**SHEETS, "List 7 - Child Protection": SHEETS["List 7 - Child Protection"].drop(
        columns=["Date of the Last Statutory Visit", "Date of latest review conference"]
    )}  # fmt: skip
    with pytest.raises(AnnexAError, match="List 7: needs .* a latest-activity date"):
        read_annex_a(write_workbook(tmp_path / "annex a.xlsx", sheets), LISTS, STAFF)


def test_an_activity_date_that_cannot_be_read_is_kept_for_the_checks_to_name(tmp_path: Path) -> None:
    sheets = {
        **SHEETS,
        "List 9 Care Leavers": SHEETS["List 9 Care Leavers"].assign(**{"Latest Date of Contact": ["soon"]}),
    }
    read = read_annex_a(write_workbook(tmp_path / "annex a.xlsx", sheets), LISTS, STAFF)
    assert read.cases.set_index("case_ref").loc["C006-L9", "last_activity_date"] == "soon"


# The guidance's early help and adoption lists, with the allocated team and worker a council adds to audit them.
EARLY_HELP_AND_ADOPTION = {
    "List 2 - Early Help": pd.DataFrame(  # the assessment's completion, else its start
        {
            "Child Unique ID": ["C007", "C008"],
            "Assessment start date": ["01/09/2026", "15/10/2026"],
            "Assessment completion date": ["20/10/2026", None],
            "Organisation completing assessment": ["Early Help Hub", "School"],
            "Allocated Team": ["Assessment Team", "Assessment Team"],
            "Allocated Worker": ["Amy Jones", "Zoë Clarke"],
        }
    ),
    "List 10 - Adoption": pd.DataFrame(  # the latest of the adoption journey's dates
        {
            "Child Unique ID": ["C009"],
            "Date the Child Entered Care": ["04/01/2025"],
            "Date of Decision that Child Should be Placed for Adoption": ["01/06/2025"],
            "Date of Placement Order": ["10/09/2025"],
            "Date of Matching Child and Prospective Adopters": ["12-Nov-2026"],
            "Date Placed for Adoption": [None],
            "Date of Adoption Order": [None],
            "Allocated Team": ["Children in Care Team"],
            "Allocated Worker": ["Shah, Priya"],
        }
    ),
}


def test_the_early_help_and_adoption_lists_are_read_where_the_council_adds_the_allocated_worker(
    tmp_path: Path,
) -> None:
    lists = {**LISTS, 2: "child_in_need", 10: "child_looked_after"}
    read = read_annex_a(write_workbook(tmp_path / "annex a.xlsx", {**SHEETS, **EARLY_HELP_AND_ADOPTION}), lists, STAFF)
    assert read.problems.empty
    cases = read.cases.set_index("case_ref")
    assert cases.loc["C007-L2", ["start_date", "last_activity_date", "worker_id"]].tolist() == [
        "2026-09-01", "2026-10-20", "S1"
    ]  # fmt: skip
    assert cases.loc["C008-L2", "last_activity_date"] == "2026-10-15"  # not completed yet: its start
    assert cases.loc["C009-L10", ["start_date", "last_activity_date", "end_date", "worker_id"]].tolist() == [
        "2025-01-04", "2026-11-12", None, "S4"
    ]  # fmt: skip


def test_an_early_help_or_adoption_list_as_the_guidance_lays_it_out_says_what_to_add(tmp_path: Path) -> None:
    as_published = {"List 10 - Adoption": EARLY_HELP_AND_ADOPTION["List 10 - Adoption"].drop(
        columns=["Allocated Team", "Allocated Worker"]
    )}  # fmt: skip
    with pytest.raises(AnnexAError, match="has no allocated worker: add the Allocated Team and Allocated Worker"):
        read_annex_a(write_workbook(tmp_path / "annex a.xlsx", {**SHEETS, **as_published}), {10: "cla"}, STAFF)


# The rest of the guidance's lists: referrals (3) and section 47 enquiries (5), which carry an allocated worker,
# and contacts (1) and adopters (11), which are never case lists and are passed over when present.
OTHER_LISTS = {
    "List 1 - Contacts": pd.DataFrame(
        {"Child Unique ID": ["C010"], "Date of Contact": ["01/11/2026"], "Contact Source": ["a) 1A: Individual"]}
    ),
    "List 3 - Referrals": pd.DataFrame(
        {
            "Child Unique ID": ["C011"],
            "Date of referral": ["03/11/2026"],
            "Referral Source": ["e) 2A: Schools"],
            "Referral NFA?": ["b) No"],
            "Allocated Team": ["Assessment Team"],
            "Allocated Worker": ["Amy Jones"],
        }
    ),
    "List 5 - Section 47": pd.DataFrame(
        {
            "Child Unique ID": ["C012"],
            "Strategy discussion initiating Section 47 Enquiry Start Date": ["02/10/2026"],
            "Date of Initial Child Protection Conference": ["16-Oct-2026"],
            "Allocated Team": ["Safeguarding Team"],
            "Allocated Worker": ["Ben Okafor"],
        }
    ),
    "List 11 - Adopters": pd.DataFrame(
        {"Individual adopter identifier": ["AD1"], "Date enquiry received": ["01/01/2026"]}
    ),
}


def test_every_list_of_the_guidance_in_one_workbook_is_read_or_passed_over(tmp_path: Path) -> None:
    lists = {**LISTS, 2: "child_in_need", 3: "assessment", 5: "child_protection", 10: "child_looked_after"}
    sheets = {**SHEETS, **EARLY_HELP_AND_ADOPTION, **OTHER_LISTS}
    read = read_annex_a(write_workbook(tmp_path / "annex a.xlsx", sheets), lists, STAFF)
    assert read.problems.empty
    cases = read.cases.set_index("case_ref")
    assert cases.loc["C011-L3", ["start_date", "last_activity_date", "worker_id"]].tolist() == [
        "2026-11-03", "2026-11-03", "S1"
    ]  # fmt: skip
    assert cases.loc["C012-L5", ["start_date", "last_activity_date", "worker_id"]].tolist() == [
        "2026-10-02", "2026-10-16", "S3"
    ]  # fmt: skip
    assert not {"C010", "AD1"} & set(cases["person_ref"])  # contacts and adopters are not cases
    assert len(cases) == sum(len(sheets[name]) for name in sheets if "Contacts" not in name and "Adopters" not in name)
