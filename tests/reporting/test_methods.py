"""The methods page says what the configuration does, and the README's table names every statistic on it."""

from __future__ import annotations

from qaloop.core.settings import load_settings
from qaloop.reporting.methods import methods
from tests.conftest import DEMO_CONFIG, PROJECT


def test_the_methods_page_follows_the_configuration() -> None:
    settings = load_settings(DEMO_CONFIG)
    page = {method.statistic: method for method in methods(settings)}
    assert "pooled over every cycle" in page["p-chart of the share good or better"].formula
    assert "not widened" in page["funnel limits for shares"].formula
    fixed = settings.model_copy(
        update={
            "reports": settings.reports.model_copy(update={"spc_baseline_points": 20}),
            "triangulation": settings.triangulation.model_copy(update={"overdispersion": "additive"}),
        }
    )
    page = {method.statistic: method for method in methods(fixed)}
    assert "fixed on the first 20 cycles" in page["p-chart of the share good or better"].formula
    assert "between-team variance" in page["funnel limits for counts"].formula
    assert page["weighted kappa (auditors against moderators)"].minimum.startswith("10 moderated audits")


def test_the_readme_lists_every_statistic_on_the_methods_page() -> None:
    readme = (PROJECT / "README.md").read_text()
    table = readme.split("### Methods", 1)[1].split("**How far", 1)[0]
    for method in methods(load_settings(DEMO_CONFIG)):
        assert f"| {method.statistic} |" in table, method.statistic
