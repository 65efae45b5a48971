"""Where data comes in: readers of CSV, XLSX, SQL and Ofsted Annex A into the canonical schema, and the loader
that stores checked frames (each file once). The checks themselves are in ``checks/``."""
