"""Bridges from the culture to other ecosystems (e.g. `livn.integrations.gym` for Gymnasium)."""
