"""Scrubbing free text before it leaves the audits: the learning points and strengths the highlights quote,
and the free text the workshop dataset keeps, lose every name, reference and address that would say who
an audit was about or by.

What goes: every email address; every word of a staff member's name, in any case and with or without a
possessive ("Garry", "GARRY", "garry", "Garry's"); every staff id and case or person reference known (in
any case); a capitalised word standing next to a removed name (a surname the store does not know: "Garry
Smithson"); and anything shaped like a reference (letters then digits: CR-004512, cr004512), a long number
(an NHS or phone number) or a postcode, known or not. A colleague called Will takes the word "will" with
him: the scrubber errs on the side of the person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REMOVED = "[removed]"
# Each pattern starts only where a run of its characters starts (a lookbehind or a word boundary) and never
# backtracks (possessive), so a text of any length is scrubbed in time proportional to it: a 100,000-character
# learning point once took half a minute against an email pattern free to start anywhere.
_EMAIL = re.compile(r"(?<![\w.+'’-])[\w.+'’-]++@[\w-]++(?:\.[\w-]++)+")
# A word, with the apostrophes, hyphens and slashes inside names and references (O'Brien, Smith-Jones, CR-0042).
_TOKEN = re.compile(r"\w+(?:['’/-]\w+)*")
_PARTS = re.compile(r"['’/-]")
_POSSESSIVE = re.compile(r"['’]s?$", re.IGNORECASE)
_SHAPES = (
    re.compile(r"\b[A-Za-z]{1,6}[-/]?\d{3,}\b"),  # a reference: letters then digits
    re.compile(r"\b\d{3} \d{3} \d{4}\b"),  # an NHS number as written (943 476 5919)
    re.compile(r"\b\d{5,}\b"),  # an NHS number, a phone number, a numeric reference
    re.compile(r"\b[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}\b"),  # a UK postcode
)
_NAME_LIKE = re.compile(r"[A-Z][a-z'’]+|[A-Z]{2,}")


def words_in(text: str) -> list[str]:
    """The words of ``text`` as the scrubber reads them (names and references whole: O'Brien, CR-0042)."""
    return _TOKEN.findall(text)


class Scrubber:
    """Removes from free text the ``names`` (every word of each, any case, possessives) and ``references``
    (whole, any case) it is given, the capitalised words next to a removed name, and anything shaped like
    an email, a reference, a long number or a postcode."""

    def __init__(self, names: Iterable[str | None] = (), references: Iterable[str | None] = ()) -> None:
        self._names = {
            part
            for name in names
            if name
            for token in _TOKEN.findall(name.lower())
            for part in (token, *_PARTS.split(token))
            if len(part) > 1
        }
        self._references = {reference.strip().lower() for reference in references if reference}

    def __call__(self, text: object) -> str:
        if not isinstance(text, str) or not text:  # None, or a blank cell (NaN)
            return ""
        text = _EMAIL.sub(REMOVED, text)
        tokens = list(_TOKEN.finditer(text))
        names = [self._is_name(token.group(0)) for token in tokens]
        removed = [
            name or token.group(0).lower() in self._references for name, token in zip(names, tokens, strict=True)
        ]
        self._take_neighbours(text, tokens, names, removed)
        pieces, end = [], 0
        for token, gone in zip(tokens, removed, strict=True):
            if gone:
                pieces += [text[end : token.start()], REMOVED]
                end = token.end()
        text = "".join([*pieces, text[end:]])
        for shape in _SHAPES:
            text = shape.sub(REMOVED, text)
        return text

    def _is_name(self, word: str) -> bool:
        lower = _POSSESSIVE.sub("", word.lower())
        return lower in self._names or any(part in self._names for part in _PARTS.split(lower) if len(part) > 1)

    @staticmethod
    def _take_neighbours(text: str, tokens: list[re.Match[str]], names: list[bool], removed: list[bool]) -> None:
        """Mark for removal each capitalised word joined by a space alone to a removed name, and so on along a
        run of them: the rest of a name the store does not know."""
        changed = True
        while changed:
            changed = False
            for number, token in enumerate(tokens):
                if removed[number] or not _NAME_LIKE.fullmatch(_POSSESSIVE.sub("", token.group(0))):
                    continue
                before = number > 0 and names[number - 1] and text[tokens[number - 1].end() : token.start()] == " "
                after = (
                    number + 1 < len(tokens)
                    and names[number + 1]
                    and text[token.end() : tokens[number + 1].start()] == " "
                )
                if before or after:
                    removed[number] = names[number] = changed = True
