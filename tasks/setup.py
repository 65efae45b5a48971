"""The task of the check-setup flow: check the sources as the next cycle would take them, in a scratch store,
and publish what was found with a link to its report."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from qaloop.core.settings import Settings
from qaloop.reporting.cycle_close import published_address
from tasks import NOT_CACHED, artifact_key


@task(name="check the setup as the next cycle would take it", **NOT_CACHED)
def check_setup(settings: Settings, on: date | None) -> tuple[bool, str]:
    """Whether the next cycle would run, and what `qaloop check` says, as one text; the HTML report is written
    under ``output/check`` and linked where ``reports.link_base`` publishes the output folder."""
    from checks.onboarding import check_authority, write_report  # Great Expectations is slow to import

    outcome = check_authority(settings, on)
    path = write_report(outcome, settings.output_dir / "check" / f"check-{date.today()}.html")
    address = published_address(settings, path)
    said = "\n".join(line for line, _ in outcome.lines())
    verdict = "The next cycle would run." if outcome.ok else "The next cycle would NOT run: see the lines marked above."
    report = f"[the full report]({address})" if address else f"the full report: {path} on the worker"
    create_markdown_artifact(
        key=artifact_key("setup-checked"),
        description=f"Cycle {outcome.cycle_ref}: the setup checked",
        markdown=f"# The setup checked for cycle {outcome.cycle_ref}\n\n```\n{said}\n```\n\n{verdict} See {report}.",
    )
    get_run_logger().info("%s\n%s", said, verdict)
    return outcome.ok, said
