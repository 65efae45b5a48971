"""The CQC ratings read from CQC's public API, served here by a local server answering in the API's own format
(``GET /locations/{id}``, the key in ``Ocp-Apim-Subscription-Key``): each stored provider's current ratings
stored as the directory's would be; a location CQC does not know, or has not rated, counted and said; a refused
key stops the read naming the status, never the key, with nothing written."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from checks.intake import take_in
from qaloop.core.schema import PROVIDER_INTELLIGENCE, Dataset
from qaloop.core.settings import CqcApiSource, Settings
from qaloop.sources.readers import SourceError
from qaloop.store import models
from qaloop.store.engine import engine_from, upgrade
from tests.providers.market import KEY_QUESTIONS, RATINGS, with_market

KEY = "test-subscription-key-9f3a"


def location_record(location_id: str) -> dict:
    """A location as the API gives it, its current ratings from the market's directory."""
    overall, questions, published = RATINGS[location_id]
    day = datetime.strptime(published, "%d/%m/%Y").date().isoformat()
    return {
        "locationId": location_id,
        "providerId": "1-" + location_id[2:] + "0",
        "name": f"Location {location_id}",
        "registrationStatus": "Registered",
        "type": "Social Care Org",
        "currentRatings": {
            "overall": {
                "rating": overall,
                "reportDate": day,
                "reportLinkId": "0a1b2c3d",
                "keyQuestionRatings": [
                    {"name": name, "rating": questions.get(name, "Good"), "reportDate": day, "reportLinkId": "0a1b2c3d"}
                    for name in KEY_QUESTIONS
                ],
            },
            "reportDate": day,
        },
    }


class CqcApi(BaseHTTPRequestHandler):
    records: dict[str, dict] = {}
    keys_seen: list[str | None] = []
    accepted_key = KEY

    def do_GET(self) -> None:  # noqa: N802  # the standard library's name
        self.keys_seen.append(self.headers.get("Ocp-Apim-Subscription-Key"))
        if self.headers.get("Ocp-Apim-Subscription-Key") != self.accepted_key:
            self._answer(401, {"statusCode": 401, "message": "Access denied due to invalid subscription key."})
            return
        location_id = self.path.rsplit("/", 1)[-1]
        record = self.records.get(location_id)
        self._answer(404, {"statusCode": 404, "message": "Not found"}) if record is None else self._answer(200, record)

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cqc_api() -> Iterator[str]:
    """The API's base address: 1-1006 is not known to it, 1-1005 is not yet rated, the rest as in the directory."""
    records = {ref: location_record(ref) for ref in RATINGS if ref != "1-1006"}
    records["1-1005"] = {"locationId": "1-1005", "name": "Location 1-1005", "currentRatings": {}}
    CqcApi.records, CqcApi.keys_seen = records, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CqcApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/public/v1"
    server.shutdown()


def with_api(settings: Settings, base_url: str, key: str) -> Settings:
    source = CqcApiSource(kind="cqc_api", base_url=base_url, subscription_key=SecretStr(key))
    return settings.model_copy(update={"sources": {**settings.sources, Dataset.CQC_RATINGS: source}})


def ratings(settings: Settings) -> int:
    with engine_from(settings).connect() as connection:
        return connection.scalar(select(func.count()).select_from(models.CqcRating)) or 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_each_stored_providers_current_ratings_are_read_from_the_api(
    store_settings: Settings, tmp_path: Path, cqc_api: str
) -> None:
    settings = with_api(with_market(store_settings, tmp_path), cqc_api, KEY)
    upgrade(engine_from(settings))
    taken = {intake.dataset: intake for intake in take_in(settings, PROVIDER_INTELLIGENCE, date(2026, 11, 30))}
    assert taken[Dataset.CQC_RATINGS].new == 4 * 6  # four locations, overall and five key questions each
    assert taken[Dataset.CQC_RATINGS].left_out == (
        "1 location(s) CQC does not know: 1-1006",
        "1 location(s) CQC has not yet rated: 1-1005",
    )
    assert set(CqcApi.keys_seen) == {KEY} and len(CqcApi.keys_seen) == 6
    with engine_from(settings).connect() as connection:
        stored = connection.execute(
            select(models.CqcRating.domain, models.CqcRating.rating, models.CqcRating.published_on)
            .join(models.Provider, models.Provider.id == models.CqcRating.provider_id)
            .where(models.Provider.location_id == "1-1003")
        ).all()  # fmt: skip
    assert ("Overall", "Inadequate", date(2026, 10, 20)) in stored and (
        "Safe",
        "Inadequate",
        date(2026, 10, 20),
    ) in stored
    # Read again the next day, the same ratings are not stored twice.
    again = {intake.dataset: intake for intake in take_in(settings, [Dataset.CQC_RATINGS], date(2026, 12, 1))}
    assert again[Dataset.CQC_RATINGS].new == 0 and ratings(settings) == 24


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_refused_key_stops_the_read_naming_the_status_never_the_key(
    store_settings: Settings, tmp_path: Path, cqc_api: str
) -> None:
    settings = with_api(with_market(store_settings, tmp_path), cqc_api, "a-key-cqc-no-longer-takes")
    upgrade(engine_from(settings))
    take_in(settings, [Dataset.PROVIDERS], date(2026, 11, 30))
    with pytest.raises(SourceError) as refused:
        take_in(settings, [Dataset.CQC_RATINGS], date(2026, 11, 30))
    assert "HTTP 401 (the subscription key was refused); nothing was read" in str(refused.value)
    assert "a-key-cqc-no-longer-takes" not in str(refused.value)
    assert ratings(settings) == 0
