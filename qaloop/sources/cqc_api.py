"""CQC's public API as the source of the CQC ratings: each stored provider's location record
(``GET {base_url}/locations/{location id}``, the subscription key in the ``Ocp-Apim-Subscription-Key`` header) read
into the canonical ``cqc_ratings`` rows: the overall rating and each key question's, with the day each was
published (``currentRatings.overall.rating``, ``.reportDate`` and ``.keyQuestionRatings[]``).

A location CQC does not know (404), or one not yet rated, gives no rows and is counted and said; a refusal of
the key, or any other answer, stops the read naming the location and the status, never the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
import pandas as pd

from qaloop.core.settings import CqcApiSource
from qaloop.sources.readers import SourceError

COLUMNS = ["location_id", "domain", "rating", "published_on", "service_group"]


def read_cqc_api(source: CqcApiSource, location_ids: Iterable[str]) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The current ratings of ``location_ids`` as canonical ``cqc_ratings`` rows (text, dates as YYYY-MM-DD),
    and what was left out and why."""
    headers = {"Accept": "application/json"}
    if source.subscription_key is not None:
        headers["Ocp-Apim-Subscription-Key"] = source.subscription_key.get_secret_value()
    rows: list[tuple[str, str, str, str, str]] = []
    unknown, unrated = [], []
    with httpx.Client(base_url=source.base_url.rstrip("/"), headers=headers, timeout=source.timeout_seconds) as client:
        for location_id in location_ids:
            try:
                answer = client.get(f"/locations/{location_id}")
            except httpx.HTTPError as error:
                raise SourceError(
                    f"cqc_ratings (the CQC API): {location_id} could not be read: {type(error).__name__}"
                ) from None
            if answer.status_code == 404:
                unknown.append(location_id)
                continue
            if answer.status_code != 200:
                said = "the subscription key was refused" if answer.status_code in (401, 403) else "an error"
                raise SourceError(
                    f"cqc_ratings (the CQC API): {location_id}: HTTP {answer.status_code} ({said}); nothing was read"
                )
            found = _ratings(location_id, answer.json())
            if found:
                rows += found
            else:
                unrated.append(location_id)
    left_out = []
    if unknown:
        left_out.append(f"{len(unknown)} location(s) CQC does not know: {', '.join(unknown[:10])}")
    if unrated:
        left_out.append(f"{len(unrated)} location(s) CQC has not yet rated: {', '.join(unrated[:10])}")
    return pd.DataFrame(rows, columns=COLUMNS, dtype=object), tuple(left_out)


def _ratings(location_id: str, record: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    overall = (record.get("currentRatings") or {}).get("overall") or {}
    if not overall.get("rating"):
        return []
    rows = [(location_id, "Overall", str(overall["rating"]), str(overall.get("reportDate") or ""), "Overall")]
    for question in overall.get("keyQuestionRatings") or []:
        if question.get("name") and question.get("rating"):
            published = question.get("reportDate") or overall.get("reportDate") or ""
            rows.append((location_id, str(question["name"]), str(question["rating"]), str(published), "Overall"))
    return rows
