"""The label set: topic names, descriptions and seed terms, read from a topics file.

The default file is ``$TOOLKIT_TOPICS``, else the shipped ``seeds/topics.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from toolkit.errors import InputError
from toolkit.resources import topics_path

_NAME_PATTERN = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class Topic:
    """One label: its name, what it covers, and typical terms per language."""

    name: str
    description: str
    terms: dict[str, list[str]] = field(default_factory=dict)
    threshold: float | None = None


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of topics."""

    topics: tuple[Topic, ...]

    @property
    def names(self) -> list[str]:
        """Topic names in file order."""
        return [topic.name for topic in self.topics]

    def descriptions(self) -> dict[str, str]:
        """Map each topic name to its description."""
        return {topic.name: topic.description for topic in self.topics}


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and check a topics file (TOML, see ``seeds/README.md``).

    No ``path``: ``$TOOLKIT_TOPICS``, else the shipped ``seeds/topics.toml``.
    """
    path = topics_path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(f"topics file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"topics file {path} is not valid TOML: {exc}") from None
    return Taxonomy(tuple(_parse_topic(entry, path) for entry in _topic_entries(data, path)))


def _topic_entries(data: dict, path: Path) -> list[dict]:
    entries = data.get("topic")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"topics file {path} defines no [[topic]] blocks")
    names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"topics file {path} repeats topic names: {', '.join(duplicates)}")
    return entries


def _parse_topic(entry: dict, path: Path) -> Topic:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise InputError(f"topics file {path}: topic name {name!r} must match [a-z0-9_]+")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise InputError(f"topics file {path}: topic {name!r} needs a description")
    terms = entry.get("terms", {})
    if not isinstance(terms, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in terms.values()
    ):
        raise InputError(f"topics file {path}: topic {name!r} terms must be lists of strings per language")
    threshold = entry.get("threshold")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
        raise InputError(f"topics file {path}: topic {name!r} threshold must be between 0 and 1")
    return Topic(
        name=name,
        description=" ".join(description.split()),
        terms={lang: list(values) for lang, values in terms.items()},
        threshold=float(threshold) if threshold is not None else None,
    )
