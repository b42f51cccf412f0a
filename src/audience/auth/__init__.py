"""Credentials: server API keys (hashed, scoped, revocable) and application codes."""
