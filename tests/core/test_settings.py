"""The configuration: every shipped config is valid, and a wrong one stops with the field, value and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qaloop.core.schema import Dataset
from qaloop.core.settings import ConfigError, load_settings

PROJECT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((PROJECT / "qaloop.yaml").read_text())


def write_config(folder: Path, changes: dict) -> Path:
    """The demo config with ``changes`` merged in (dotted keys reach into nested sections; None deletes)."""
    config = yaml.safe_load((PROJECT / "qaloop.yaml").read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        target = config
        for part in parents:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    path = folder / "qaloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "name",
    ["qaloop.yaml", "configs/essex.yaml", "configs/warwickshire.yaml", "configs/ofsted.yaml", "configs/coventry.yaml"],
)
def test_every_shipped_configuration_is_valid(name: str) -> None:
    settings = load_settings(PROJECT / name)
    assert settings.audit_types and settings.grade_scale.labels


@pytest.mark.parametrize(
    ("name", "below", "meets"),
    [
        ("configs/essex.yaml", "Requires improvement", "Adequate"),
        ("configs/warwickshire.yaml", "Amber", "Green"),
        ("configs/ofsted.yaml", "Requires improvement", "Good"),
        ("configs/coventry.yaml", "does not meet good", "meets good"),
    ],
)
def test_each_seed_scale_draws_its_standard_line(name: str, below: str, meets: str) -> None:
    scale = load_settings(PROJECT / name).grade_scale
    assert scale.below_standard(below)
    assert not scale.below_standard(meets)
    assert scale.rank(below) < scale.rank(meets)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"grade_scale.standard": "Excellent"}, "grade_scale", "'Excellent' is not one of the grade labels"),
        ({"grade_scale.standard": "Requires improvement"}, "grade_scale", "worst grade"),
        ({"authority.service": "health"}, "authority.service", "'adults' or 'children'"),
        ({"authority.code": "Demo County"}, "authority.code", "value 'Demo County'"),
        ({"calendar.cadence_weeks": 0}, "calendar.cadence_weeks", "greater than or equal to 1"),
        ({"calendar.timezone": "Europe/Londres"}, "calendar.timezone", "unknown time zone"),
        (
            {
                "calendar.type_shares": {
                    "care_act_assessment": 0.5,
                    "care_act_review": 0.6,
                    "mca_assessment": 0,
                    "safeguarding": 0,
                }
            },
            "calendar.type_shares",
            "add up to 1.1",
        ),
        ({"calendar.type_shares": {"care_act_assessment": 1.0}}, "(top level)", "must name exactly the audit types"),
        ({"calendar.anchor": "12/01/2026"}, "calendar.anchor", "value '12/01/2026'"),
        (
            {"selection.relaxation_order": ["look_back", "look_back"]},
            "selection.relaxation_order",
            "each rule may appear once",
        ),
        ({"selection.relaxation_order": ["seniority"]}, "selection.relaxation_order.0", "'worker_repeat'"),
        ({"selection.reserve_share": 1.5}, "selection.reserve_share", "less than or equal to 1"),
        ({"moderation.share": 0}, "moderation.share", "greater than 0"),
        ({"email.from_address": "not-an-address"}, "email.from_address", "value 'not-an-address'"),
        ({"email.ssl": True, "email.starttls": True}, "email", "not both"),
        ({"email.qa_team": []}, "email.qa_team", "at least 1 item"),
        ({"email.smpt_host": "typo.example"}, "email.smpt_host", "Extra inputs are not permitted"),
        ({"sources.cases.kind": "parquet"}, "sources.cases", "'csv', 'xlsx', 'sql'"),
        ({"sources.cases.columns": {"worker": "Worker ID"}}, "(top level)", "maps unknown column(s) ['worker']"),
        ({"sources.payroll": {"kind": "csv", "path": "x.csv"}}, "sources.payroll", "Input should be"),
        (
            {"audit_types": [{"id": "care_act_review", "label": "Review", "tool": "missing"}]},
            "(top level)",
            "names tool 'missing'",
        ),
        (
            {"audit_tools.safeguarding.questions": [{"id": "Q1", "aspect": "nowhere", "text": "?"}]},
            "audit_tools.safeguarding",
            "names aspect 'nowhere'",
        ),
        (
            {"reminders.audit": [{"days": 2, "notify": "assignee"}, {"days": -3, "notify": "assignee"}]},
            "reminders",
            "increasing order",
        ),
        ({"authority": None}, "authority", "missing"),
        (
            {"sources.cqc_ratings": {"kind": "csv", "path": "cqc.csv"}},
            "(top level)",
            "sources.cqc_ratings: its rows name commissioned providers, so the provider list must be configured too",
        ),
        (
            {"provider_quality": {"rules": [{"id": "x", "level": 2, "kind": "cqc_overall", "ratings": ["Poor"]}]}},
            "provider_quality.rules.0.cqc_overall.ratings.0",
            "'Requires improvement'",
        ),
        (
            {"provider_quality": {"rules": [{"id": "x", "level": 4, "kind": "returns_missing"}]}},
            "provider_quality.rules.0.returns_missing.level",
            "Input should be 2 or 3",
        ),
        ({"reports.link_base": "intranet/qa reports"}, "reports.link_base", "should match pattern"),
        (
            {"governance.standards": {"S1": {"title": "Safe", "evidence": {"questions": ["V1", "Z9"]}}}},
            "(top level)",
            "governance.standards.S1.evidence.questions names unknown questions ['Z9']",
        ),
        (
            {"governance.standards": {"S1": {"title": "Safe", "evidence": {"indicators": ["KPI-9"]}}}},
            "(top level)",
            "governance.standards.S1.evidence.indicators names unknown indicators ['KPI-9']",
        ),
        ({"governance.grade_descriptions": {"Excellent": "the best"}}, "(top level)", "not grades of the scale"),
        (
            {"governance.escalations": {"to": ["slt@example.org"], "exceptions": ["provider_level_3"]}},
            "(top level)",
            "provider_level_3 needs provider_quality",
        ),
        (
            {"governance.escalations": {"to": ["slt@example.org"], "chase": [{"days": 5}, {"days": 2}]}},
            "governance.escalations",
            "increasing working days",
        ),
        (
            {"governance.service_areas": {"HP": {"name": "Help"}, "EH": {"name": "hp"}}},
            "governance",
            "['hp'] name more than one service area",
        ),
        (
            {"governance.indicators.ASC-01.polarity": "up"},
            "governance.indicators.ASC-01.polarity",
            "'higher is better'",
        ),
        ({"reports.spc_baseline_points": 8}, "reports", "spc_baseline_points (8) is fewer than spc_min_points (13)"),
        (
            {"reports.spc_recalculate_from": [{"cycle": "2026-01", "reason": r} for r in ("new tool", "restructure")]},
            "reports",
            "names a cycle twice",
        ),
        (
            {
                "sources.cases": {
                    "kind": "annex_a",
                    "path": "a.xlsx",
                    "lists": {1: "care_act_review", 11: "safeguarding"},
                }
            },
            "sources.cases.annex_a.lists",
            "list 1 (contacts) cannot be audited as cases: a contact is not allocated to a worker; list 11 (adopters)",
        ),
    ],
)
def test_a_wrong_configuration_names_the_field_and_the_rule(
    tmp_path: Path, changes: dict, field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write_config(tmp_path, changes))
    message = str(raised.value)
    assert f"  - {field}:" in message
    assert words in message


def test_the_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QALOOP_DATABASE_URL", "postgresql+psycopg://qaloop@db.internal/qaloop")
    monkeypatch.setenv("QALOOP_EMAIL__SMTP_HOST", "relay.council.example")
    monkeypatch.setenv("QALOOP_EMAIL__PASSWORD", "s3cret-value")
    settings = load_settings(write_config(tmp_path, {}))
    assert settings.database_url.get_secret_value() == "postgresql+psycopg://qaloop@db.internal/qaloop"
    assert settings.email.smtp_host == "relay.council.example"
    assert settings.email.password.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


def test_a_bad_environment_value_is_named_and_secrets_are_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QALOOP_EMAIL__SMTP_PORT", "twenty-five")
    monkeypatch.setenv("QALOOP_DATABASE_URL", "42")
    with pytest.raises(ConfigError) as raised:
        load_settings(write_config(tmp_path, {"email.password": {"nested": "hunter2"}}))
    message = str(raised.value)
    assert "email.smtp_port: value 'twenty-five'" in message
    assert "hunter2" not in message


def test_relative_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, {}))
    assert settings.database_url.get_secret_value() == f"sqlite:///{tmp_path / 'var' / 'qaloop.db'}"
    assert settings.output_dir == tmp_path / "output"
    assert settings.sources[Dataset.CASES].path == tmp_path / "var" / "extracts" / "cases.csv"


def test_a_missing_or_unreadable_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("authority: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_settings(broken)


def test_the_audit_tool_is_found_through_the_audit_type() -> None:
    settings = load_settings(PROJECT / "qaloop.yaml")
    tool = settings.tool_for("mca_assessment")
    assert [aspect.id for aspect in tool.aspects] == ["voice", "practice", "impact", "recording"]
    assert {question.aspect for question in tool.questions} <= {"voice", "practice", "impact", "recording"}


def test_a_configuration_error_never_shows_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A mistyped email section (its password from the environment, as the README says to keep it), and a source
    # whose mistyped kind leaves its database URL, password and all, in the section being refused.
    monkeypatch.setenv("QALOOP_EMAIL__PASSWORD", "S3cretP@ss")
    source = {"kind": "sqll", "url": "postgresql://qaloop:Hunter2Pw@reporting.internal/mosaic", "query": "SELECT 1"}
    config = write_config(tmp_path, {"email.smpt_host": "relay.council.example", "sources.cases": source})
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "email" in message and "sources.cases" in message  # both problems named
    assert "S3cretP@ss" not in message and "Hunter2Pw" not in message


@pytest.mark.parametrize("key", ["", "x", "demo-only-not-a-secret", "a" * 64])
def test_a_weak_pseudonym_key_is_refused_with_how_to_make_a_good_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("QALOOP_REPORTS__PSEUDONYM_KEY", key)
    with pytest.raises(ConfigError) as raised:
        load_settings(write_config(tmp_path, {}))
    message = str(raised.value)
    assert "reports.pseudonym_key: value hidden" in message and "secrets.token_urlsafe(32)" in message
    monkeypatch.setenv("QALOOP_REPORTS__PSEUDONYM_KEY", "k7Vq2Xm9Lp4Tz8Rw1Ns6Bd3Fh5Jc0GyQ4")
    assert load_settings(write_config(tmp_path, {})).reports.pseudonym_key is not None


def test_warwickshires_five_standards_and_its_red_amber_green_grades_are_configured() -> None:
    governance = load_settings(PROJECT / "configs/warwickshire.yaml").governance
    assert [standard.title for standard in governance.standards.values()] == [
        "People are safe and their independence and wellbeing promoted",
        "People have a positive experience of services",
        "The workforce is skilled, motivated and valued",
        "Equality and diversity are integral to services",
        "Services make efficient and effective use of resources",
    ]
    assert list(governance.grade_descriptions) == ["Outstanding", "Green", "Amber", "Red"]
    assert governance.grade_descriptions["Red"].endswith("immediate action is required")
    # Each standard draws on case records; the others on people's experience and complaints too.
    assert all(standard.evidence.questions for standard in governance.standards.values())


def test_coventrys_indicators_are_evidence_for_each_of_the_four_lenses() -> None:
    governance = load_settings(PROJECT / "configs/coventry.yaml").governance
    assert {indicator.lens for indicator in governance.indicators.values()} == {
        "independent", "provider", "professional", "citizen"
    }  # fmt: skip
    assert governance.compendium_day == 4
    assert [area.name for area in governance.service_areas.values()] == [
        "Referral and Assessment", "Children in Need and Protection", "Looked After Children"
    ]  # fmt: skip
