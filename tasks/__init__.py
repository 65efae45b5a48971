"""Prefect tasks: the units of retry, caching and observability around qaloop's domain code.

A task gathers its inputs, calls the domain (``qaloop/``) or a client, publishes what the QA team should
see in the Prefect UI as artifacts, and returns. Retries only where I/O can fail (database, SMTP, files).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.runtime import deployment, flow_run
from prefect.states import State

from checks.outcomes import CheckFailed, CheckReport, EvidenceFailed
from qaloop.core.settings import Settings, load_settings
from qaloop.governance.indicators import GovernanceError
from qaloop.providers.record import ProviderError
from qaloop.sources.loading import LoadError
from qaloop.sources.readers import SourceError
from qaloop.store.handles import CycleError

# Settings and frames are not hashed for caching: they are large and the steps are not pure anyway.
NOT_CACHED: dict[str, Any] = {"cache_policy": NONE}


class StoppedOnRequest(Exception):
    """A step stopped because someone asked (a signal this process otherwise ignores): the run fails."""


# Bad data or a broken rule will not mend itself between attempts, and a stop asked for is not to be undone by
# trying again: only I/O failures are retried.
_WILL_NOT_MEND = (
    CheckFailed, EvidenceFailed, SourceError, LoadError, CycleError, ProviderError, GovernanceError, StoppedOnRequest
)  # fmt: skip


def worth_retrying(task: object, task_run: object, state: State) -> bool:
    """Whether a failed attempt is worth another: true unless the domain refused the input."""
    return not isinstance(state.result(raise_on_failure=False), _WILL_NOT_MEND)


RETRY_IO: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 10, "retry_condition_fn": worth_retrying}


def run_name(build: Callable[[Settings], str]) -> Callable[[], str]:
    """A flow's run name, made by ``build`` from the run's settings, that never stops the run: when the
    configuration cannot be read (or a parameter makes no sense), the run is named after its deployment and
    says so, and its body then fails with the reason in plain words, which the failure hook emails."""

    def name() -> str:
        try:
            return build(load_settings(flow_run.parameters.get("config")))
        except Exception:  # noqa: BLE001  # the body reports it; a name must not crash the run unnamed
            return f"{deployment.name or flow_run.flow_name} (configuration not readable)"

    return name


def dated_run_name(what: str) -> Callable[[], str]:
    """A daily flow's run name: the authority, what the flow does, and the day it runs for (its ``today``)."""
    return run_name(
        lambda settings: f"{settings.authority.code} {what} {flow_run.parameters.get('today') or date.today()}"
    )


def artifact_key(*parts: str) -> str:
    """An artifact key from ``parts`` as Prefect accepts it: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).casefold()).strip("-")


def publish_check(report: CheckReport) -> None:
    """A dataset's check report in the log and as a markdown artifact, and where rows failed, a table of the
    failing checks with the first rows by reference."""
    logger = get_run_logger()
    (logger.info if report.ok else logger.warning)(report.describe())
    key = artifact_key(report.dataset, "checks")
    create_markdown_artifact(markdown=f"```\n{report.describe()}\n```", key=key, description=f"{report.dataset} checks")
    if not report.ok:
        create_table_artifact(
            table=report.table(), key=artifact_key(key, "failures"), description=f"{report.dataset}: failing rows"
        )
