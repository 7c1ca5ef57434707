"""toolkit: multilingual topic classification for scraped news articles.

Site chrome out, language detected, text embedded, topics labelled::

    from toolkit import TopicClassifier
    model = TopicClassifier.load("models/default.safetensors")
    model.predict(["Chipmaker raises $2bn to expand AI accelerator fab ..."])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.classifier import TopicClassifier

__version__ = "0.1.0"
__all__ = ["TopicClassifier", "__version__"]


def __getattr__(name: str) -> type[TopicClassifier]:
    """Import the classifier lazily so that `toolkit --help` stays fast."""
    if name == "TopicClassifier":
        from toolkit.classifier import TopicClassifier

        return TopicClassifier
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
