"""The files toolkit ships: the models in ``models/`` and the topics in ``seeds/topics.toml``.

An installed wheel carries them inside the package (``toolkit/models``, ``toolkit/seeds``, found
through :mod:`importlib.resources`); a checkout keeps them beside the package, at the top of the
repository, and an editable install reads them there. The same files serve both: ``pyproject.toml``
maps the two folders into the package when it builds a wheel.

Paths a user gives follow one rule: an explicit path (relative to the current folder), then the
environment variable (``TOOLKIT_MODEL``, ``TOOLKIT_TOPICS``), then the shipped default.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.errors import InputError

MODEL_ENV = "TOOLKIT_MODEL"
TOPICS_ENV = "TOOLKIT_TOPICS"
_CHECKOUT = Path(__file__).resolve().parent.parent
_DEFAULT_MODEL_FILE = "default.safetensors"
_DEFAULT_TOPICS_FILE = "topics.toml"
# Shipped models a user can name instead of a path (``--model fast``).
SHIPPED_MODELS = {"default": "default.safetensors", "fast": "fast.safetensors"}


def _shipped_folder(name: str) -> Path:
    """``models`` or ``seeds``: inside the installed package, else at the top of this checkout."""
    from importlib import resources  # not at import time: `toolkit --help` needs none of it

    packaged = resources.files("toolkit").joinpath(name)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / name).is_dir():
        return _CHECKOUT / name
    raise InputError(
        f"toolkit's shipped {name}/ folder is missing: reinstall toolkit from its wheel or clone, "
        "or name the file yourself"
    )


def shipped_model(name: str = _DEFAULT_MODEL_FILE) -> Path:
    """A file or folder shipped in ``models/`` (a model file, or the static encoder's folder)."""
    return _shipped_folder("models") / name


def shipped_topics() -> Path:
    """The shipped topics file, ``seeds/topics.toml``."""
    return _shipped_folder("seeds") / _DEFAULT_TOPICS_FILE


def model_path(path: str | Path | None = None) -> Path:
    """The model file to read: ``path``, else ``$TOOLKIT_MODEL``, else the shipped default.

    A value that names a shipped model (``default``, ``fast``) and no existing file means that model.
    """
    if path is None and os.environ.get(MODEL_ENV):
        path = os.environ[MODEL_ENV]
    if path is None:
        return shipped_model()
    if str(path) in SHIPPED_MODELS and not Path(path).exists():
        return shipped_model(SHIPPED_MODELS[str(path)])
    return Path(path)


def topics_path(path: str | Path | None = None) -> Path:
    """The topics file to read: ``path``, else ``$TOOLKIT_TOPICS``, else the shipped one."""
    if path is not None:
        return Path(path)
    if os.environ.get(TOPICS_ENV):
        return Path(os.environ[TOPICS_ENV])
    return shipped_topics()
