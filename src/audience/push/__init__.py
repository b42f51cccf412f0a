"""Push messages (SPEC §13): credentials, messages, fan-out and provider clients."""
