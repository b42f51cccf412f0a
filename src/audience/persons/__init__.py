"""Persons: profiles, identities, personalize/depersonalize, merge, audit."""
