"""Audience: a self-hosted server for mobile audience profiling."""

__version__ = "0.1.0"
