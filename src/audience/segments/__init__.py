"""Segments: a rule language over persons, compiled to SQL, with real-time stored membership."""
