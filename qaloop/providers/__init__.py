"""Provider quality monitoring: commissioned care services placed on threshold levels 1-3 from their intelligence
(Herefordshire's quality assurance strategy, Appendix 2), proposed by configured rules, decided by people.

``thresholds`` holds the rules' arithmetic (plain pandas, no store); ``record`` reads the intelligence from the
store, records each month's proposals with their reasons and rule version, the decisions on levels, and
explains a proposal again.
"""
