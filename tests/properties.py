"""How hard the property tests (hypothesis) try: a quick profile by default (``make test``), a thorough one in
CI (``HYPOTHESIS_PROFILE=thorough``: ``.ci/run`` runs the property tests again with it after ``make test``),
which runs every property test's full example count."""

from __future__ import annotations

import os

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def examples(thorough: int) -> int:
    """The number of examples a property test tries: ``thorough`` in CI, a fifth of it (at least 20) otherwise."""
    return thorough if THOROUGH else max(20, thorough // 5)
