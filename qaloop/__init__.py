"""qaloop: a social-care quality-assurance audit programme run end to end.

This package holds what does not depend on Prefect: the settings, the store's models, the sources,
the synthetic authority and the domain rules. ``flows/`` and ``tasks/`` wrap it for Prefect.
"""
