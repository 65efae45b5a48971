"""Great Expectations suites, one module per dataset, run through ``checks.runner``.

Every dataset is checked before anything of it is written: a failed check names the rows (by key) and
what is wrong with them in plain words, and the dataset's policy decides whether the step stops or
sets the failing rows aside (quarantine) and goes on.
"""
