"""Prefect as the QA team reaches it: a server of a test module's own, in its own process and home (the
session's test harness serves no UI and runs no scheduler or triggers), the project's deployments deployed to
it, its API asked as the UI asks it; and a flow run created through the API from a deployment, as a form
creates one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect import Flow
from prefect.client.schemas.objects import State

from tests.conftest import PROJECT

PREFECT = str(Path(sys.executable).parent / "prefect")


def api(method: str, url: str, body: object = None) -> Any:
    """The Prefect API's JSON reply; a busy server (its SQLite locked by the scheduler, a 5xx) is asked again.

    A refusal that is not the server being busy fails the test with the server's own words.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = httpx.request(method, url, json=body, timeout=10)
        except httpx.TransportError:
            reply = None
        if reply is not None and reply.status_code < 500:
            assert reply.is_success, f"{method} {url}: {reply.status_code} {reply.text}"
            return reply.json() if reply.content else None
        assert time.monotonic() < deadline, f"{method} {url}: the server stayed busy ({reply and reply.text})"
        time.sleep(1)


@contextmanager
def prefect_server(home: Path, **settings: str) -> Iterator[dict[str, str]]:
    """A Prefect server started in ``home`` with ``settings`` (PREFECT_... variables); yields the environment a
    client, a worker or ``prefect deploy`` needs to reach it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_UI_URL": f"http://127.0.0.1:{port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **settings,
    }
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the Prefect server did not start (it stopped, or took over 90 s)")
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


def deploy(server: dict[str, str], folder: Path, *names: str) -> Path:
    """prefect.yaml's deployments (``names``, else all of them) deployed to ``server`` from a copy of the
    project in ``folder``, into the ``qaloop`` process work pool; returns the copy (the worker's directory)."""
    project = folder / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".venv", ".git", "var", "output", "*.pyc"))
    api("POST", f"{server['PREFECT_API_URL']}/work_pools/", {"name": "qaloop", "type": "process"})
    which = [option for name in names for option in ("--name", name)] or ["--all"]
    done = subprocess.run(
        [PREFECT, "--no-prompt", "deploy", *which], cwd=project, env=server, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return project


def through_the_api(form_flow: Flow, /, **parameters: object) -> State:
    """A run of the flow's deployment created through the Prefect API, as its form creates one (the server
    holds the parameters to the form's schema), then run here as a worker runs it: the flow's final state."""
    from prefect.deployments import run_deployment
    from prefect.flow_engine import run_flow

    form_flow.to_deployment(name=form_flow.name).apply()
    run = run_deployment(f"{form_flow.name}/{form_flow.name}", parameters=parameters, timeout=0)
    return run_flow(form_flow, flow_run=run, parameters=run.parameters, return_type="state")


def paused_run(timeout: float = 90) -> UUID:
    """The id of the flow run that is paused (for its form), once one is; AssertionError after ``timeout`` s."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                )
            )
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError("no flow run paused for its form")
