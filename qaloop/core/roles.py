"""Staff roles and their order of seniority: who may audit, who moderates, who manages."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member of staff's role, as named in the staff list."""

    PRACTITIONER = "practitioner"
    SENIOR_PRACTITIONER = "senior_practitioner"
    TEAM_MANAGER = "team_manager"
    SERVICE_MANAGER = "service_manager"
    PRACTICE_LEAD = "practice_lead"
    QA_OFFICER = "qa_officer"
    DIRECTOR = "director"

    @property
    def seniority(self) -> int:
        """Rank in the hierarchy: higher is more senior; practice leads and QA officers share a rank."""
        return _SENIORITY[self]

    @property
    def can_audit(self) -> bool:
        """Auditors are registered professionals at senior practitioner level and above."""
        return self.seniority >= _SENIORITY[Role.SENIOR_PRACTITIONER]


_SENIORITY: dict[Role, int] = {
    Role.PRACTITIONER: 0,
    Role.SENIOR_PRACTITIONER: 1,
    Role.TEAM_MANAGER: 2,
    Role.SERVICE_MANAGER: 3,
    Role.PRACTICE_LEAD: 4,
    Role.QA_OFFICER: 4,
    Role.DIRECTOR: 5,
}
