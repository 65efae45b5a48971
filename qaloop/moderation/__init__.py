"""Moderation: which submitted audits practice leads re-judge and who judges each, its record in the store,
and how far auditors agree with moderators."""
