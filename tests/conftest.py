"""Shared set-up of the plugin's own tests (``pytester`` is enabled in pyproject)."""
