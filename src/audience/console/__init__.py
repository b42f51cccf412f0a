"""The People console: a server-rendered web UI at ``/console`` over the features' services."""
