"""Custom attribute definitions and the typed validation of their values (SPEC §4)."""
