"""Free text quoted in the highlights report loses every reference, name and email address."""

from __future__ import annotations

from qaloop.reporting.render import Scrubber


def test_known_names_references_and_emails_are_removed_and_ordinary_words_kept() -> None:
    scrub = Scrubber(["Will Hughes", "E010023", "CR-0042", "PR77", "will.hughes@council.example"])
    text = "Will Hughes (E010023) will record why; see CR-0042 for PR77, or ask will.hughes@council.example."
    assert (
        scrub(text) == "[removed] [removed] ([removed]) will record why; see [removed] for [removed], or ask [removed]"
    )


def test_anything_shaped_like_a_reference_or_an_email_goes_even_if_unknown() -> None:
    scrub = Scrubber([])
    assert (
        scrub("Case AB123456 and ref X-9981; mail a.b@c.org now")
        == "Case [removed] and ref [removed]; mail [removed] now"
    )
    assert scrub("Good use of the Care Act 2014 and s42.") == "Good use of the Care Act 2014 and s42."
    assert scrub(None) == ""
