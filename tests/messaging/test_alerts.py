"""The QA team's alerts about runs: what they quote of what went wrong."""

from __future__ import annotations

from qaloop.core.settings import Settings
from qaloop.messaging.alerts import failure_message


def test_an_alert_quotes_the_start_of_a_long_failure_and_says_where_the_rest_is(settings: Settings) -> None:
    # A failure whose message carried a whole file (a crash on a 200 MB drop-folder CSV carried 4.4 MB).
    error = "ValueError: too many rows\n" + "CR-1,Good,Yes,Yes,No\n" * 200_000
    message = failure_message(settings, "ingest-returns", "returns 2027-01-08", "run-1", "http://ui/run-1", error)
    assert len(message.text) < 6_000 and len(message.html) < 10_000
    assert "ValueError: too many rows" in message.text
    assert f"{len(error.strip()):,} characters in all, every one of them in the run's log" in message.text


def test_an_alert_quotes_a_short_failure_whole(settings: Settings) -> None:
    message = failure_message(settings, "audit-cycle", "2027-01", "run-2", "http://ui/run-2", "the staff list is stale")
    assert "the staff list is stale" in message.text and "cut here" not in message.text
