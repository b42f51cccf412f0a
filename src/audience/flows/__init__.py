"""Flows: automated communication driven by events and segment changes (docs/flows.md)."""
