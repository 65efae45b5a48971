"""The ``qaloop`` command line (``cli.main``): set up, load, run flows here or through a Prefect server,
and the day-to-day decisions. It sits beside ``flows/`` because it launches them."""
