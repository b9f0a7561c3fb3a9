"""Segfaults through ctypes."""
import ctypes


def start_workers(n, target=None):
    ctypes.string_at(0)
