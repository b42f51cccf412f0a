"""Push messages (docs/push.md): credentials, messages, fan-out and provider clients."""
