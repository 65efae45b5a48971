"""The anonymised workshop dataset: a cycle's audits for practice workshops, with every case, practitioner
and auditor reference replaced by a keyed pseudonym, and free text only where the configuration keeps it.

A pseudonym is the HMAC-SHA256 of the reference and its cycle under a secret key (``reports.pseudonym_key``,
from the environment), so nobody without the key can get from a pseudonym back to the reference, and a
person recognised in one cycle's dataset (by an audit they remember) is not followed into the others. Where
the configuration asks for it (``reports.link_pseudonyms_across_cycles``) the cycle is left out, and the same
case or person has the same pseudonym in every cycle's dataset. The free text kept is scrubbed
(``qaloop.reporting.scrubber``) of every name and reference in it.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pandas as pd

from qaloop.core.outputs import write_sheets
from qaloop.core.settings import Settings
from qaloop.reporting.scrubber import Scrubber

PREFIXES = {"case": "C", "practitioner": "P", "auditor": "A"}


def pseudonym(key: bytes, kind: str, reference: str, cycle_ref: str | None) -> str:
    """The pseudonym of ``reference`` (a case, practitioner or auditor) in ``cycle_ref`` (None: in every
    cycle): e.g. C-3f9a12bc07."""
    within = "" if cycle_ref is None else f"{cycle_ref}:"
    digest = hmac.new(key, f"{kind}:{within}{reference}".encode(), hashlib.sha256).hexdigest()
    return f"{PREFIXES[kind]}-{digest[:10]}"


def workshop_dataset(
    findings: pd.DataFrame, answers: pd.DataFrame, settings: Settings, key: bytes, scrub: Scrubber
) -> pd.DataFrame:
    """One row per audit: pseudonyms, cycle, area, audit type, grades, escalation, each question's answer
    (column ``<tool> <question id>``) and the free-text fields listed in ``reports.workshop_free_text``,
    scrubbed."""
    linked = settings.reports.link_pseudonyms_across_cycles
    cycles = [None if linked else cycle for cycle in findings["cycle_ref"]]

    def pseudonyms(kind: str, column: str) -> list[str]:
        return [pseudonym(key, kind, ref, cycle) for ref, cycle in zip(findings[column], cycles, strict=True)]

    frame = pd.DataFrame(
        {
            "case": pseudonyms("case", "case_ref"),
            "practitioner": pseudonyms("practitioner", "practitioner_ref"),
            "auditor": pseudonyms("auditor", "auditor_ref"),
            "cycle": findings["cycle_ref"],
            "area": findings["area"],
            "audit_type": [settings.audit_type(type_id).label for type_id in findings["audit_type"]],
            "grade": findings["grade"],
            "auditor_grade": findings["auditor_grade"],
            "moderated_grade": findings["moderated_grade"],
            "below_standard": findings["below_standard"],
            "escalation": findings["escalation"],
            "returned_late": findings["submitted_on"] > findings["audit_due"],
        }
    )
    for field in settings.reports.workshop_free_text:
        frame[field.replace("_", " ")] = [scrub(text) or None for text in findings[field]]
    if not answers.empty:
        tools = findings.set_index("return_id")["audit_type"].map(lambda type_id: settings.audit_type(type_id).tool)
        wide = (
            answers.assign(column=answers["return_id"].map(tools) + " " + answers["question_id"])
            .pivot_table(index="return_id", columns="column", values="answer", aggfunc="first")
            .reindex(findings["return_id"])
        )
        frame = pd.concat([frame, wide.reset_index(drop=True)], axis=1)
    return frame


def write_workshop_dataset(frame: pd.DataFrame, path: Path) -> Path:
    """Write the dataset to an XLSX workbook (sheet "Audits"); returns ``path``."""
    return write_sheets(path, {"Audits": frame})
