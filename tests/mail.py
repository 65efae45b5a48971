"""What every cycle's emails must satisfy, whichever path sent them: who gets what, and no names."""

from __future__ import annotations

import io
from email.message import EmailMessage

from openpyxl import load_workbook

from qaloop.allocation.notices import long_date
from qaloop.core.cycle_dates import CycleDates
from qaloop.core.schema import Dataset
from qaloop.core.settings import Settings
from qaloop.sources.readers import read_dataset


def assert_each_person_got_their_message(settings: Settings, dates: CycleDates, received: list[EmailMessage]) -> None:
    """Auditors get their case with its workbook, practitioners the self-reflection request, service managers
    their area's summary; each message once."""
    staff = read_dataset(settings, Dataset.STAFF).set_index("email")
    due = long_date(dates.audit_due)
    for message in received:
        role = staff.loc[message["To"], "role"]
        if message["Subject"].startswith("Audit allocated"):
            assert role != "practitioner"
            assert due in message["Subject"]
            [workbook] = list(message.iter_attachments())
            sheet = load_workbook(io.BytesIO(workbook.get_content()))["Audit"]
            case_ref = message["Subject"].split("case ")[1].split(" ")[0]
            assert sheet["B3"].value == case_ref and sheet["B6"].value == staff.loc[message["To"], "staff_id"]
            assert sheet.data_validations.dataValidation  # drop-down answers and grades
        elif message["Subject"].startswith("Your self-reflection"):
            assert role in {"practitioner", "senior_practitioner"}
        else:
            assert role == "service_manager" and "allocated for audit" in message["Subject"]
    assert len({m["Message-ID"] for m in received}) == len(received)


def assert_no_staff_name_appears(settings: Settings, received: list[EmailMessage]) -> None:
    """No name from the staff list in any subject, body or attached workbook."""
    names = set(read_dataset(settings, Dataset.STAFF)["name"])
    for message in received:
        text = "\n".join(
            [message["Subject"], message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()]
        )
        for part in message.iter_attachments():
            book = load_workbook(io.BytesIO(part.get_content()))
            text += "\n".join(str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row)
        leaked = {name for name in names if name in text}
        assert not leaked, f"{message['Subject']} names {leaked}"
