"""Crashes at import time."""
raise RuntimeError("configuration missing at import")
