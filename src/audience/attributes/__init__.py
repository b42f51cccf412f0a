"""Custom attribute definitions and the typed validation of their values (docs/rules.md, Model)."""
