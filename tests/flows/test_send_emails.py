"""send-emails as a flow in real Prefect: the emails the server refused are shown in the run's artifact by
staff id, and a run with retry_failed puts them back and sends them to the corrected address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.send_emails import send_emails_now
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import MAX_ATTEMPTS
from tests.conftest import SmtpSink, write_config
from tests.messaging.test_undelivered import _mail_to, _set_address, refused_again_and_again

pytestmark = pytest.mark.slow  # whole flows in real Prefect


def _artifact(key: str) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        [latest] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1)
    return json.loads(latest.data) if isinstance(latest.data, str) else latest.data


def test_the_ui_shows_refused_emails_by_staff_id_and_puts_them_back_on_request(
    prefect_harness: None, county: Settings, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    settings = _mail_to(county, smtp_server)
    auditor = refused_again_and_again(settings, MAX_ATTEMPTS - 1)
    config = str(write_config(settings, tmp_path, smtp_server.port))

    assert send_emails_now(config=config).emails_sent == 0  # the fifth refusal: given up
    [shown] = _artifact("undelivered-emails")
    assert shown["status"] == "given up" and shown["not delivered to"].startswith(f"staff {auditor}: 550")
    assert "refuse.auditor" not in str(shown)

    _set_address(settings, auditor, "auditor.corrected@qaloop-demo.example")
    run = send_emails_now(config=config, retry_failed=True)
    assert (run.put_back, run.emails_sent, run.still_queued) == (1, 1, 0)
    assert [m["To"] for m in smtp_server.messages] == ["auditor.corrected@qaloop-demo.example"]
