"""Placeholder plugin module, filled in by its issue."""
