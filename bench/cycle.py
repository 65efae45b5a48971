"""Benchmark: the whole audit-cycle flow in real Prefect on 100,000 cases, 480 selected, every email sent.

Writes a synthetic authority into a scratch folder with a copy of the demo configuration (120 audits per
area, four areas), loads its history, starts a local SMTP sink, then runs the audit-cycle flow in
Prefect's local mode. Prints the flow's wall time, the time spent inside its tasks (qaloop's own work),
the rest (Prefect's own machinery: run creation, state changes, artifacts, logs), the local server's
start-up, and the messages sent per second. The target: the flow under 60 s. Run with
``.venv/bin/python bench/cycle.py [--cases N] [--per-area N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import yaml
from common import PROJECT, peak_mb

from checks.intake import take_in
from qaloop.core.cycle_dates import next_selection_date
from qaloop.core.schema import EXTRACTS, Dataset
from qaloop.core.settings import load_settings
from qaloop.demo.mail_sink import start_sink
from qaloop.demo.synthetic import generate, write_extracts
from qaloop.store.engine import engine_from, upgrade

AS_OF = date(2026, 11, 22)
SINK_PORT = 8026


def scratch_config(folder: Path, per_area: int) -> Path:
    """The demo configuration copied into ``folder`` (so its relative paths land there), sized for the run."""
    config = yaml.safe_load((PROJECT / "qaloop.yaml").read_text())
    config["calendar"]["audits_per_area"] = per_area
    config["email"]["smtp_port"] = SINK_PORT
    config["email"]["messages_per_minute"] = 600_000  # the sink's speed, not a relay's limit, is measured
    path = folder / "qaloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--per-area", type=int, default=120)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qaloop-bench-"))
    os.environ["PREFECT_HOME"] = str(folder / "prefect")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        config = scratch_config(folder, args.per_area)
        settings = load_settings(config)
        write_extracts(generate(settings, as_of=AS_OF, cases=args.cases), settings)
        engine = engine_from(settings)
        upgrade(engine)
        take_in(settings, EXTRACTS, AS_OF)
        # This cycle's extract: the same cases in another order, so the flow reads, checks and stores all
        # of them again as it would a new day's extract (a file already loaded would be skipped).
        cases = pd.read_csv(settings.sources[Dataset.CASES].path, dtype=str, keep_default_na=False)
        cases.sample(frac=1, random_state=1).to_csv(settings.sources[Dataset.CASES].path, index=False)
        print(f"{args.cases:,} cases, {args.per_area} audits per area; figures below exclude generating them")
        run(config, settings.output_dir / "mail", next_selection_date(settings.calendar, AS_OF))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(config: Path, mail: Path, selection_date: date) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.audit_cycle import audit_cycle

    started = time.perf_counter()
    with get_client(sync_client=True) as client:
        client.hello()  # starts Prefect's local server, as the first run of the day would
    server_seconds = time.perf_counter() - started

    sink = start_sink(mail, port=SINK_PORT)
    try:
        started = time.perf_counter()
        state = audit_cycle(config=str(config), selection_date=selection_date, return_state=True)
        flow_seconds = time.perf_counter() - started
    finally:
        sink.stop()
    summary = state.result()
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    in_tasks = {run.name.rsplit("-", 1)[0]: run.total_run_time.total_seconds() for run in task_runs}
    task_seconds = sum(in_tasks.values())
    print(
        f"cycle {summary.cycle_ref}: {summary.allocated} allocated, {summary.waiting_for_an_auditor} waiting, "
        f"{summary.emails_sent} emails sent, {summary.emails_still_queued} still queued"
    )
    for name, seconds in in_tasks.items():
        print(f"  {name:<50} {seconds:7.2f} s")
    print(f"{'flow wall time':<52} {flow_seconds:7.2f} s   (target 60)")
    print(f"{'  inside tasks (qaloop)':<52} {task_seconds:7.2f} s")
    print(f"{'  Prefect machinery (wall - tasks)':<52} {flow_seconds - task_seconds:7.2f} s")
    print(f"{'Prefect local server start (before the run)':<52} {server_seconds:7.2f} s")
    sending = in_tasks.get("send the emails", 0.0)
    print(f"{'messages per second (sending task)':<52} {summary.emails_sent / sending:7.1f}")
    print(f"peak RSS {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
