"""Running the same call from several threads at once, released together, as two runs or workers would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def at_once(call: Callable[[], Result], times: int = 2) -> list[Result]:
    """``call`` made ``times`` times at once; its results, in the order they finished. A call that raised fails
    the test with its error."""
    results: list[Result] = []
    errors: list[BaseException] = []
    start = threading.Barrier(times)

    def run() -> None:
        try:
            start.wait()
            results.append(call())
        except BaseException as error:  # noqa: BLE001  # raised again below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    assert len(results) == times, "a call did not finish in time"
    return results
