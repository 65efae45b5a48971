"""Prefect flows, one thin module per flow: each reads like its paragraph in DESIGN.md."""
