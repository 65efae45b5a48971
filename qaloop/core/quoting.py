"""Quoting data in messages: how much of a value, a list or a long text a message, a log line or an alert
shows, so that no value, however long, fills one (the full text stays where it belongs: the file, the log)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

# A message about refused rows quotes this many of them; the rest are in the file it names.
QUOTED_ROWS = 10


def brief(text: str, limit: int = 40) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut, with any control or format
    character shown as its escape (``\\u202e``): an invisible one may reverse or hide what a reader sees."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return "".join(_visible(character) for character in shown)


def _visible(character: str) -> str:
    if character in "\n\t" or unicodedata.category(character) not in ("Cc", "Cf"):
        return character
    return f"\\u{ord(character):04x}"


def first_lines(text: str, lines: int = 12) -> str:
    """The first ``lines`` lines of ``text``, then how many more there are."""
    shown = text.splitlines()
    return "\n".join(shown[:lines] + ([f"... and {len(shown) - lines} more line(s)"] if len(shown) > lines else []))


def some_of(items: Sequence[str], shown: int = 10) -> list[str]:
    """The first ``shown`` items, then a last item saying how many more there are."""
    return list(items[:shown]) + ([f"... and {len(items) - shown} more"] if len(items) > shown else [])


def quoted_reasons(reasons: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each refused row's key and why, in key order, as a message quotes them: neither long enough to fill it."""
    return [(brief(ref), brief(why, 300)) for ref, why in sorted(reasons.items())]
