"""Closed-loop experiments as data."""
