"""A relay that requires a login with a plain username (no `@`, as an Exchange connector or Postfix account
has): the sender logs in with the username as configured, never with one made up from it, and `qaloop doctor`
logs in the same way; a wrong password fails both, in plain words."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr
from typer.testing import CliRunner

from cli.main import app
from qaloop.core.settings import Settings
from qaloop.messaging.outbox import MailServerUnreachable, enqueue, send_queued
from qaloop.store.engine import engine_from, upgrade
from tests.conftest import DEMO_CONFIG
from tests.messaging.test_outbox import message

USERNAME, PASSWORD = "qaloop-relay", "correct horse battery staple"


class Keep:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # aiosmtpd's hook
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Keep, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else ""
        handler.logins.append(login)
        ok = isinstance(auth_data, LoginPassword) and (login, auth_data.password.decode()) == (USERNAME, PASSWORD)
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False,
        auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _logging_in(settings: Settings, port: int, password: str) -> Settings:
    email = settings.email.model_copy(
        update={"smtp_port": port, "username": USERNAME, "password": SecretStr(password), "messages_per_minute": 6000}
    )
    return settings.model_copy(update={"email": email})


def _config(settings: Settings, folder: Path, password: str) -> Path:
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["database_url"] = settings.database_url.get_secret_value()
    data["email"].update(smtp_port=settings.email.smtp_port, username=USERNAME)
    path = folder / "login.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # a test relay on 127.0.0.1
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the store plays no part
def test_the_sender_and_the_doctor_log_in_with_the_username_as_configured(
    store_settings: Settings, relay: tuple[Keep, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = relay
    upgrade(engine_from(store_settings))
    settings = _logging_in(store_settings, port, PASSWORD)
    enqueue(engine_from(settings), [message(1)])
    assert send_queued(engine_from(settings), settings.email).sent == 1
    assert handler.logins == [USERNAME] and len(handler.messages) == 1  # not "qaloop-relay@gmail.com"

    config = _config(settings, tmp_path, PASSWORD)
    monkeypatch.setenv("QALOOP_EMAIL__PASSWORD", PASSWORD)
    doctor = CliRunner().invoke(app, ["doctor", "--config", str(config)])
    assert f"logged in as {USERNAME}" in doctor.output

    monkeypatch.setenv("QALOOP_EMAIL__PASSWORD", "wrong")
    doctor = CliRunner().invoke(app, ["doctor", "--config", str(config)])
    assert f"refused the login for {USERNAME}" in doctor.output and doctor.exit_code == 1
    wrong = _logging_in(store_settings, port, "wrong")
    enqueue(engine_from(wrong), [message(2)])
    with pytest.raises(MailServerUnreachable, match=f"refused the login for {USERNAME}"):
        send_queued(engine_from(wrong), wrong.email)
    assert "wrong" not in doctor.output  # the password is never shown
