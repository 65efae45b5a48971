"""What the governance board and the QA team read: a cycle's figures worked out from the store, SPC and
charts, the rendered reports and their data packs, triangulation, the cycle's close and the workshop dataset."""
