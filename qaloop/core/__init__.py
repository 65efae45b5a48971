"""What every part of qaloop stands on: the one validated configuration, the canonical datasets, staff roles,
working days, the cycle calendar and where the templates are. Nothing here touches the store."""
