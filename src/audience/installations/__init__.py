"""Installations: one install of one application on one device (docs/rules.md: Model, R1, R4)."""
