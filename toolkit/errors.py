"""The few exception types a toolkit user sees.

Every error carries a message meant to be shown as one line; the CLI prints it
and exits with the error's ``exit_code``.
"""

from __future__ import annotations

import importlib
from typing import Any


class ToolkitError(Exception):
    """Base class: a failure the user can act on, described in one line."""

    exit_code = 1


class UsageError(ToolkitError):
    """Options that cannot go together (the same file as input and output, resume without a file)."""

    exit_code = 2


class InputError(ToolkitError):
    """Unreadable or malformed input: a file, a record, a dataset."""


class ModelError(ToolkitError):
    """A model file that cannot be loaded or used (corrupt, unsafe, mismatched)."""


class EncoderError(ToolkitError):
    """An encoder that cannot be found or loaded."""


class DataValidationError(ToolkitError):
    """A dataset that fails validation before training."""


def optional_module(name: str, hint: str) -> Any:
    """Import an optional dependency by name; when it is missing, a :class:`ToolkitError` saying ``hint``."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ToolkitError(hint) from None
