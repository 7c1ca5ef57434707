"""The multi-label topic classifier, in scikit-learn style.

``TopicClassifier.fit(texts, labels)`` cleans each text (site chrome out),
embeds it with the encoder, adds character n-gram features, trains one
logistic-regression head per label, and tunes a decision threshold per label
on cross-validated predictions. The fitted head is kept as plain numpy arrays,
so prediction needs only numpy (and the encoder), and the model file holds no
scikit-learn objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from toolkit.cleaning import clean
from toolkit import __version__
from toolkit.cache import cached_map, with_cache
from toolkit.embedding import Encoder, resolve_encoder
from toolkit.features import CharNgrams
from toolkit.taxonomy import Taxonomy

_DEFAULT_C = 16.0
_DEFAULT_CV = 5
_DEFAULT_CHAR_WEIGHT = 2.0
_THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)
FEATURE_SETS = ("embedding", "chars", "embedding+chars")


class NotFittedError(ValueError):
    """The classifier was used before ``fit`` (or ``load``)."""


class TopicClassifier:
    """Multi-label news topic classifier: clean -> embed (+ char n-grams) -> one-vs-rest logistic heads.

    Parameters are only stored here; ``fit`` does the work and sets the
    attributes ending in ``_``.
    """

    def __init__(
        self,
        encoder: str | Encoder | None = None,
        topics: Taxonomy | None = None,
        features: str = "embedding+chars",
        C: float = _DEFAULT_C,
        char_weight: float = _DEFAULT_CHAR_WEIGHT,
        cv: int = _DEFAULT_CV,
        seed: int = 0,
        clean: bool = True,
    ):
        self.encoder = encoder
        self.topics = topics
        self.features = features
        self.C = C
        self.char_weight = char_weight
        self.cv = cv
        self.seed = seed
        self.clean = clean

    # ---- fitting -----------------------------------------------------------------------------

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> "TopicClassifier":
        """Learn heads and per-label thresholds; ``labels`` holds a list of label names per text."""
        if self.features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {', '.join(FEATURE_SETS)}, not {self.features!r}")
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} label lists")
        self.classes_ = np.asarray(self._label_names(labels))
        y = self._binarize(labels)
        self.encoder_ = resolve_encoder(self.encoder) if self.encoder is None or isinstance(self.encoder, str) else self.encoder
        bodies = clean_bodies(texts) if self.clean else [str(text) for text in texts]
        training_encoder = with_cache(self.encoder_)
        embeddings = self._embed(bodies, training_encoder)
        counts = _cached_counts(bodies) if "chars" in self.features else None
        self.chars_ = CharNgrams().fit_counts(counts) if counts is not None else None
        char_matrix = self.chars_.transform_counts(counts) if counts is not None else None
        oof = self._cross_val_proba(embeddings, counts, y)
        self.thresholds_, self.cv_scores_ = _tune_thresholds(oof, y, self.classes_, self.cv, self.seed)
        self.coef_, self.intercept_ = self._fit_heads(embeddings, char_matrix, y)
        self.encoder_identity_ = training_encoder.identity()
        self.training_ = {
            "data_hash": _data_hash(bodies, labels),
            "n_documents": len(bodies),
            "label_counts": {str(name): int(y[:, j].sum()) for j, name in enumerate(self.classes_)},
        }
        self.n_features_in_ = int(self.coef_.shape[1])
        return self

    def _label_names(self, labels: Sequence[Sequence[str]]) -> list[str]:
        seen = sorted({label for row in labels for label in row})
        if self.topics is None:
            return seen
        unknown = sorted(set(seen) - set(self.topics.names))
        if unknown:
            raise ValueError(f"labels contain names not in the topic set: {', '.join(unknown)}")
        return list(self.topics.names)

    def _binarize(self, labels: Sequence[Sequence[str]]) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.classes_)}
        y = np.zeros((len(labels), len(self.classes_)), dtype=np.int8)
        for row, names in enumerate(labels):
            for name in names:
                if name not in index:
                    raise ValueError(f"y contains previously unseen label {name!r}")
                y[row, index[name]] = 1
        return y

    def _bodies(self, texts: Sequence[str]) -> list[str]:
        if not self.clean:
            return [str(text) for text in texts]
        return [clean(str(text)).body or str(text) for text in texts]

    def _embed(self, bodies: list[str], encoder: Encoder | None = None) -> np.ndarray:
        if "embedding" not in self.features:
            return np.zeros((len(bodies), 0), dtype=np.float32)
        return (encoder or self.encoder_).encode(bodies)

    def _design(self, embeddings: np.ndarray, char_matrix):
        """Join the dense embedding block and the sparse char block into one design matrix."""
        if char_matrix is None:
            return embeddings
        from scipy import sparse

        return sparse.hstack([sparse.csr_matrix(embeddings), char_matrix * self.char_weight], format="csr")

    def _fit_heads(self, embeddings: np.ndarray, char_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One logistic regression per label, fitted one after another.

        Not in threads: liblinear's dual solver draws from one process-wide
        random state, so parallel fits would not be reproducible.
        """
        design = self._design(embeddings, char_matrix)
        heads = [self._fit_head(design, y[:, column]) for column in range(y.shape[1])]
        return np.vstack([coef for coef, _ in heads]), np.asarray([b for _, b in heads], dtype=np.float32)

    def _fit_head(self, design, target: np.ndarray) -> tuple[np.ndarray, float]:
        from sklearn.linear_model import LogisticRegression

        if target.min() == target.max():
            return np.zeros(design.shape[1], dtype=np.float32), (10.0 if target[0] else -10.0)
        head = LogisticRegression(
            C=self.C, class_weight="balanced", solver="liblinear", dual=design.shape[1] > design.shape[0],
            max_iter=1000, random_state=self.seed,
        )
        head.fit(design, target)
        return head.coef_[0].astype(np.float32), float(head.intercept_[0])

    def _cross_val_proba(self, embeddings: np.ndarray, counts, y: np.ndarray) -> np.ndarray:
        """Out-of-fold probabilities: each document scored by heads (and IDF) that never saw it."""
        oof = np.zeros(y.shape, dtype=np.float64)
        for train, test in _folds(len(y), self.cv, self.seed):
            train_chars = test_chars = None
            if counts is not None:
                chars = CharNgrams().fit_counts(counts[train])
                train_chars, test_chars = chars.transform_counts(counts[train]), chars.transform_counts(counts[test])
            coef, intercept = self._fit_heads(embeddings[train], train_chars, y[train])
            oof[test] = _sigmoid(_decision(self._design(embeddings[test], test_chars), coef, intercept))
        return oof

    # ---- prediction --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this TopicClassifier is not fitted yet: call fit() or TopicClassifier.load()")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(n, n_labels)`` array of per-label probabilities, columns in ``classes_`` order."""
        self._check_fitted()
        return self.score_bodies(self._bodies(texts))

    def score_bodies(self, bodies: Sequence[str]) -> np.ndarray:
        """Like :meth:`predict_proba` for texts that are already cleaned article bodies."""
        self._check_fitted()
        bodies = [str(body) for body in bodies]
        if not bodies:
            return np.zeros((0, len(self.classes_)))
        embeddings = self._embed(bodies)
        char_matrix = self.chars_.transform(bodies) if self.chars_ is not None else None
        return _sigmoid(_decision(self._design(embeddings, char_matrix), self.coef_, self.intercept_))

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """Return, per text, the labels whose probability reaches their threshold (possibly none)."""
        return self.labels_from_proba(self.predict_proba(texts))

    def labels_from_proba(self, proba: np.ndarray) -> list[list[str]]:
        """Apply the per-label thresholds to a probability matrix."""
        self._check_fitted()
        passed = proba >= self.thresholds_[None, :]
        return [[str(name) for name, ok in zip(self.classes_, row) if ok] for row in passed]

    # ---- persistence -------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the fitted model to ``path`` (joblib; atomic; see :mod:`toolkit.persistence`)."""
        from toolkit.persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path) -> "TopicClassifier":
        """Read a model written by :meth:`save`; refuses files holding anything but plain data."""
        from toolkit.persistence import load_model

        return load_model(path)


def clean_bodies(texts: Sequence[str]) -> list[str]:
    """The cleaned body of each text (the text itself when cleaning leaves nothing), via the training cache."""
    return cached_map(
        [str(text) for text in texts], f"bodies-{__version__}",
        lambda batch: [clean(text).body or text for text in batch],
        lambda body: body.encode("utf-8", "surrogatepass"), lambda blob: blob.decode("utf-8", "surrogatepass"),
    )


def _cached_counts(bodies: list[str]):
    """Character n-gram counts of ``bodies`` (CSR), read from the training cache where possible."""
    from scipy import sparse

    chars = CharNgrams()
    namespace = f"chars-{__version__}-{chars.n_features}-{chars.ngram_range[0]}-{chars.ngram_range[1]}"

    def compute(texts: list[str]) -> list:
        matrix = chars.counts(texts)
        return [matrix[i] for i in range(matrix.shape[0])]

    def encode(row) -> bytes:
        return np.asarray(row.indices, dtype=np.int32).tobytes() + np.asarray(row.data, dtype=np.float32).tobytes()

    def decode(blob: bytes):
        half = len(blob) // 8
        indices = np.frombuffer(blob[: half * 4], dtype=np.int32)
        data = np.frombuffer(blob[half * 4 :], dtype=np.float32)
        return sparse.csr_matrix((data, indices, [0, half]), shape=(1, chars.n_features))

    rows = cached_map(bodies, namespace, compute, encode, decode)
    return sparse.vstack(rows, format="csr") if rows else chars.counts(bodies)


def _data_hash(texts: Sequence[str], labels: Sequence[Sequence[str]]) -> str:
    """A short SHA-256 over the training texts and their sorted labels, in order."""
    digest = hashlib.sha256()
    for text, names in zip(texts, labels):
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00" + ",".join(sorted(names)).encode("utf-8") + b"\x01")
    return digest.hexdigest()[:16]


def _decision(design, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return np.asarray(design @ coef.T, dtype=np.float64) + intercept[None, :]


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -40, 40)))


def _folds(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded shuffled k-fold indices (k capped by n)."""
    k = max(2, min(k, n))
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, k)
    return [(np.sort(np.concatenate(parts[:i] + parts[i + 1 :])), np.sort(parts[i])) for i in range(k)]


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The grid threshold with the best F1 (ties: the middle of the best plateau)."""
    f1s = np.array([_f1(scores >= t, truth) for t in _THRESHOLD_GRID])
    best = np.flatnonzero(f1s >= f1s.max() - 1e-9)
    return float(_THRESHOLD_GRID[best[len(best) // 2]])


def _f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(predicted & (truth == 1)))
    fp = float(np.sum(predicted & (truth == 0)))
    fn = float(np.sum(~predicted & (truth == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _tune_thresholds(oof: np.ndarray, y: np.ndarray, classes: np.ndarray, k: int, seed: int):
    """Tune thresholds on all out-of-fold scores; report honest scores with fold-held-out thresholds."""
    thresholds = np.array([_best_threshold(oof[:, j], y[:, j]) for j in range(y.shape[1])], dtype=np.float64)
    honest = np.zeros(y.shape, dtype=bool)
    for train, test in _folds(len(y), k, seed + 1):
        for j in range(y.shape[1]):
            honest[test, j] = oof[test, j] >= _best_threshold(oof[train, j], y[train, j])
    from toolkit.metrics import label_scores

    return thresholds, label_scores(y, honest, list(classes))
