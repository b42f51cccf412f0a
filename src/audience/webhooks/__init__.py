"""Outbound webhooks (docs/webhooks.md): endpoints, publishing of triggers, signed deliveries."""
