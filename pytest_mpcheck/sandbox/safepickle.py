"""Unpickling a sandboxed call's return value without running the learner's code.

Unpickling can call any importable callable (``__reduce__``), so a plain
``pickle.loads`` in the pytest process would let a submission run code there.
Only builtin containers and scalars, a few harmless standard-library types and
the data classes, named tuples and enums that pytest-mpcheck itself defines
may appear in a result.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import io
import pickle
from typing import Any

__all__ = ["UnsafeResultError", "safe_loads"]

_ALLOWED: dict[str, frozenset[str]] = {
    "builtins": frozenset(
        {"bytearray", "complex", "dict", "frozenset", "list", "range", "set", "slice", "tuple"}
    ),
    "collections": frozenset({"Counter", "OrderedDict", "defaultdict", "deque"}),
    "datetime": frozenset({"date", "datetime", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "pathlib": frozenset({"Path", "PosixPath", "PurePath", "PurePosixPath"}),
}


class UnsafeResultError(pickle.UnpicklingError):
    """The pickle refers to something that is not allowed in a sandbox result."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _ALLOWED.get(module, ()):
            return getattr(importlib.import_module(module), name)
        if (module == "pytest_mpcheck" or module.startswith("pytest_mpcheck.")) and "." not in name:
            obj = getattr(importlib.import_module(module), name, None)
            if _is_plain_data_class(obj):
                return obj
        raise UnsafeResultError(f"{module}.{name}")


def _is_plain_data_class(obj: object) -> bool:
    """A class of ours whose construction only stores fields (never runs anything)."""
    if not isinstance(obj, type):
        return False
    module = getattr(obj, "__module__", "")
    if not (module == "pytest_mpcheck" or module.startswith("pytest_mpcheck.")):
        return False  # imported into one of our modules from elsewhere
    return (
        dataclasses.is_dataclass(obj)
        or issubclass(obj, enum.Enum)
        or (issubclass(obj, tuple) and hasattr(obj, "_fields"))
    )


def safe_loads(data: bytes) -> Any:
    """``pickle.loads`` restricted to the types listed in the module docstring."""
    return _SafeUnpickler(io.BytesIO(data)).load()
