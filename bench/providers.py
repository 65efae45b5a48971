"""Benchmark: a region's commissioned market, 20,000 providers with five years of intelligence, and the monthly
proposal of every provider's threshold level.

Prints the time of the proposal from the intelligence in memory, of the whole monthly step from the store
(read the intelligence, propose, record), and the process's peak memory, each beside a baseline measured in
the same run (one pandas pass grouping every intelligence row by provider), as this machine is shared and
noisy. The target: the monthly proposal under 10 s. Run with ``.venv/bin/python bench/providers.py
[--providers N] [--database-url URL]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date

import numpy as np
import pandas as pd
from common import peak_mb, scratch_settings
from sqlalchemy import insert, select

from qaloop.core.schema import CQC_DOMAINS, SERVICE_TYPES
from qaloop.core.settings import ProviderQuality
from qaloop.providers import record
from qaloop.providers.thresholds import Intelligence, propose
from qaloop.sources.loading import ensure_authority
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade

MONTH = "2026-11"
AS_OF = date(2026, 11, 30)
YEARS = 5
_RATINGS = np.array(["Outstanding", "Good", "Good", "Good", "Requires improvement", "Inadequate"])


def market(providers: int, seed: int = 1) -> Intelligence:
    """A synthetic market: each provider with a rating in every domain every 18 months or so, concerns at a
    rate by its size, a monitoring return every month (some missing), notices and improvement actions."""
    rng = np.random.default_rng(seed)
    refs = np.array([f"1-{100_000_000 + n}" for n in range(providers)])
    types = rng.choice(SERVICE_TYPES, providers)
    size = np.where(
        np.isin(types, ["care_home", "nursing_home"]), rng.integers(8, 90, providers), rng.integers(50, 900, providers)
    )
    start = pd.Timestamp(AS_OF) - pd.DateOffset(years=YEARS)
    days = (pd.Timestamp(AS_OF) - start).days

    def dates(count: int) -> pd.Series:
        return start + pd.to_timedelta(rng.integers(0, days, count), unit="D")

    inspections = np.repeat(np.arange(providers), 3)
    published = dates(len(inspections))
    ratings = pd.DataFrame(
        {
            "location_id": np.repeat(refs[inspections], len(CQC_DOMAINS)),
            "domain": np.tile(CQC_DOMAINS, len(inspections)),
            "rating": rng.choice(_RATINGS, len(inspections) * len(CQC_DOMAINS)),
            "published_on": np.repeat(published.to_numpy(), len(CQC_DOMAINS)),
        }
    )
    ratings = ratings.drop_duplicates(["location_id", "domain", "published_on"])  # two inspections on one day
    concern_counts = rng.poisson(np.maximum(size, 10) / 40 * YEARS)
    concern_of = np.repeat(np.arange(providers), concern_counts)
    concerns = pd.DataFrame(
        {
            "location_id": refs[concern_of],
            "concern_ref": [f"C{n}" for n in range(len(concern_of))],
            "concern": rng.choice(["safeguarding", "quality"], len(concern_of)),
            "raised_on": dates(len(concern_of)).to_numpy(),
            "serious": rng.random(len(concern_of)) < 0.02,
        }
    )
    months = pd.period_range(start, periods=YEARS * 12, freq="M").strftime("%Y-%m").to_numpy()
    returns = pd.DataFrame({"location_id": np.repeat(refs, len(months)), "month": np.tile(months, providers)})
    received = pd.to_datetime(returns["month"] + "-28") + pd.Timedelta(days=10)
    returns["received_on"] = received.where(rng.random(len(returns)) > 0.05)
    noticed = rng.choice(providers, providers // 10)
    served = dates(len(noticed))
    notices = pd.DataFrame(
        {
            "location_id": refs[noticed],
            "notice_ref": [f"N{n}" for n in range(len(noticed))],
            "notice": rng.choice(["default", "further default", "advisory", "placement suspension"], len(noticed)),
            "served_on": served.to_numpy(),
            "ends_on": (served + pd.to_timedelta(rng.integers(30, 400, len(noticed)), unit="D")).to_numpy(),
        }
    )
    planned = rng.choice(providers, providers // 5 * 4)
    due = dates(len(planned))
    actions = pd.DataFrame(
        {
            "location_id": refs[planned],
            "action_ref": [f"A{n}" for n in range(len(planned))],
            "due_on": due.to_numpy(),
            "completed_on": (due + pd.to_timedelta(rng.integers(-20, 60, len(planned)), unit="D"))
            .where(rng.random(len(planned)) > 0.1)
            .to_numpy(),
        }
    )
    enforced = rng.choice(providers, providers // 20)
    enforcement = pd.DataFrame(
        {
            "location_id": refs[enforced],
            "action_ref": [f"E{n}" for n in range(len(enforced))],
            "action": rng.choice(
                ["warning notice", "conditions imposed", "notice of proposal to cancel"], len(enforced)
            ),
            "served_on": dates(len(enforced)).to_numpy(),
        }
    )
    providers_frame = pd.DataFrame(
        {"location_id": refs, "name": [f"Service {n}" for n in range(providers)], "service_type": types,
         "size": size, "commissioned_by": "council"}
    )  # fmt: skip
    return Intelligence(providers_frame, ratings, enforcement, concerns, returns, notices, actions)


def baseline(intel: Intelligence) -> float:
    """Seconds for one pandas pass over the intelligence: every frame's rows counted by provider."""
    started = time.perf_counter()
    for frame in (intel.ratings, intel.enforcement, intel.concerns, intel.returns, intel.notices, intel.actions):
        frame.groupby("location_id").size()
    return time.perf_counter() - started


def store(intel: Intelligence, settings: object) -> None:
    """The market written straight into the store (the checked intake is not what is measured here)."""
    engine = engine_from(settings)  # type: ignore[arg-type]
    upgrade(engine)
    with engine.begin() as connection:
        authority = ensure_authority(connection, settings)  # type: ignore[arg-type]
        area = connection.scalar(select(models.Area.id).where(models.Area.authority_id == authority))
        rows = intel.providers.assign(authority_id=authority, area_id=area)
        connection.execute(insert(models.Provider), rows.to_dict("records"))
        ids = dict(connection.execute(select(models.Provider.location_id, models.Provider.id)).all())
        tables = {
            models.CqcRating: intel.ratings,
            models.CqcEnforcement: intel.enforcement,
            models.ProviderConcern: intel.concerns,
            models.MonitoringReturn: intel.returns,
            models.ContractNotice: intel.notices,
            models.ImprovementAction: intel.actions,
        }
        for model, frame in tables.items():
            table = model.__table__
            rows = frame.assign(provider_id=frame["location_id"].map(ids)).drop(columns=["location_id"])
            if "authority_id" in table.c:
                rows = rows.assign(authority_id=authority)
            for column in rows.columns:
                if column.endswith("_on"):
                    rows[column] = rows[column].dt.date.astype(object).where(rows[column].notna(), None)
            records = rows.astype(object).where(rows.notna(), None).to_dict("records")
            for chunk in range(0, len(records), 50_000):
                connection.execute(insert(table), records[chunk : chunk + 50_000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--providers", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="a store to use (default: SQLite in a scratch folder)")
    args = parser.parse_args()
    intel = market(args.providers)
    rows = sum(len(frame) for frame in (intel.ratings, intel.concerns, intel.returns, intel.notices, intel.actions))
    print(f"{args.providers:,} providers, {YEARS} years, {rows:,} rows of intelligence; generating them excluded")
    base = baseline(intel)
    print(f"{'baseline (group every row by provider)':<44} {base:7.2f} s   1.0 x")

    quality = ProviderQuality()
    started = time.perf_counter()
    proposals = propose(intel, quality, AS_OF)
    seconds = time.perf_counter() - started
    levels = pd.Series([p.level for p in proposals.values()]).value_counts().sort_index().to_dict()
    print(
        f"{'proposal from the intelligence in memory':<44} {seconds:7.2f} s {seconds / base:6.1f} x"
        f"   peak RSS {peak_mb():6.0f} MB   levels {levels}"
    )

    with tempfile.TemporaryDirectory() as folder:
        settings = scratch_settings(folder, args.database_url)
        settings = settings.model_copy(update={"provider_quality": quality})
        store(intel, settings)
        started = time.perf_counter()
        placed = record.propose_month(engine_from(settings), settings, MONTH, date(2026, 12, 6))
        seconds = time.perf_counter() - started
        print(
            f"{'the monthly step from the store (read, propose, record)':<44} {seconds:7.2f} s {seconds / base:6.1f} x"
            f"   peak RSS {peak_mb():6.0f} MB   ({len(placed):,} recorded)"
        )
        # What the store read (only the returns the rules need) proposes what the whole intelligence does.
        assert {each.location_id: each.proposal for each in placed} == proposals
    print("target: the monthly proposal under 10 s")


if __name__ == "__main__":
    main()
