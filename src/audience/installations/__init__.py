"""Installations: one install of one application on one device (SPEC §2, R1, R4)."""
