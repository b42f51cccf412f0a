"""Outbound webhooks (SPEC §11): endpoints, the publishing of triggers, signed deliveries."""
