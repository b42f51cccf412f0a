"""Behavioural events: standard events, custom event definitions, ingestion and history."""
