"""The package's shape: no import cycles, estimators that clone and pickle, workers that spawn."""

from __future__ import annotations

import ast
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from tests.conftest import ROOT
from toolkit.classifier import TopicClassifier
from toolkit.io import Record
from toolkit.labelling import run_label_job

PACKAGE = Path(__file__).resolve().parent.parent / "toolkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every toolkit module ``path`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module == "toolkit" or module.startswith("toolkit.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_no_import_cycle_inside_the_package():
    graph = _graph()
    assert "toolkit.classifier" in graph and "toolkit.persistence" in graph
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a module importing its own package's __init__ re-exports is not a cycle of concepts
            if nxt == "toolkit" or (node.startswith(nxt + ".") and nxt != node):
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_persistence_knows_nothing_of_the_classifier():
    assert "toolkit.classifier" not in _graph()["toolkit.persistence"]


def test_clone_gives_an_unfitted_estimator_with_the_same_parameters(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "coef_")
    assert isinstance(clone(TopicClassifier(C=3.0)), TopicClassifier)


def test_a_loaded_model_pickles_after_predicting(model_file):
    model = TopicClassifier.load(model_file)
    texts = ["The foundry will make chips on a new process.", "Rain is expected later this week."]
    before = model.predict_proba(texts)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(texts), before)


def test_load_returns_the_calling_class(model_file):
    class Mine(TopicClassifier):
        pass

    assert type(Mine.load(model_file)) is Mine


def test_spawned_workers_label_like_one_process(model_file, corpus):
    model = TopicClassifier.load(model_file)
    records = [Record(doc["id"], doc["text"], i + 1) for i, doc in enumerate(corpus[:24])]
    outputs = {}
    for workers, method in ((1, None), (2, "spawn")):
        stream = io.StringIO()
        counts = run_label_job(model, iter(records), stream, batch_size=5, workers=workers, method=method)
        assert counts["ok"] == len(records)
        outputs[method] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert outputs["spawn"] == outputs[None]


def test_labelling_never_imports_scikit_learn(model_file):
    """scikit-learn costs about a second of every cold start; only training and eval may load it."""
    code = (
        "import sys\n"
        "from toolkit import TopicClassifier\n"
        "from toolkit.io import Record\n"
        "from toolkit.labelling import label_batch\n"
        "model = TopicClassifier.load(sys.argv[1])\n"
        "out = label_batch(model, [Record('a', 'The foundry will make chips on a new process.', 1)])\n"
        "assert out[0]['status'] == 'ok', out\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('sklearn', 'scipy.stats')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(model_file)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_parameters_follow_the_estimator_contract():
    from sklearn.utils import get_tags

    model = TopicClassifier(C=3.0)
    assert repr(model) == "TopicClassifier(C=3.0)"
    assert model.set_params(char_weight=2.0) is model and model.get_params()["char_weight"] == 2.0
    with pytest.raises(ValueError, match="invalid parameter 'alpha' for TopicClassifier"):
        model.set_params(alpha=1)
    assert get_tags(model).target_tags.required is False
