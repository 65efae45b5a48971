"""The audit programmes and their draws: the one eligibility and repeat rule, the stratified selection,
regular cycles, deep dives and managers' months recorded with their seeds and inputs, and ``explain``, which
re-derives any of them."""
