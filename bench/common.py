"""What the benchmarks share: the demo settings moved into a scratch folder, and the process's peak memory."""

from __future__ import annotations

import resource
from pathlib import Path

from pydantic import SecretStr

from qaloop.core.settings import Settings, load_settings

PROJECT = Path(__file__).resolve().parent.parent


def scratch_settings(folder: str, database_url: str | None = None, **calendar: object) -> Settings:
    """The demo settings with every source file and the store in ``folder`` (or ``database_url``)."""
    base = load_settings(PROJECT / "qaloop.yaml")
    sources = {d: s.model_copy(update={"path": Path(folder) / s.path.name}) for d, s in base.sources.items()}
    return base.model_copy(
        update={
            "sources": sources,
            "database_url": SecretStr(database_url or f"sqlite:///{folder}/bench.db"),
            "calendar": base.calendar.model_copy(update=calendar),
        }
    )


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
