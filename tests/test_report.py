"""`toolkit eval --report`: an offline HTML page whose numbers are the JSON's, PNGs that decode, --compare."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, TOPICS, make_corpus
from toolkit.classifier import TopicClassifier
from toolkit.cli import EXIT_FAILURE, app
from toolkit.metrics import co_predictions, label_scores, pr_curves

runner = CliRunner()
FIGURES = {
    "pr_curves.png",
    "f1_by_topic.png",
    "f1_by_language.png",
    "f1_topic_language.png",
    "score_histograms.png",
    "co_predicted.png",
}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory) -> Path:
    """Held-out articles, some of them in a second (small) language group, some labels deliberately wrong.

    The wrong labels guarantee false positives and false negatives for the error tables.
    """
    docs = make_corpus(n=40, seed=11)
    for i, doc in enumerate(docs):
        if i % 5 == 0:
            doc["language"] = "de"
        if i % 7 == 0 and doc["labels"]:
            doc["labels"] = doc["labels"][1:]  # a topic the text states is missing: the model's hit is an FP
        elif i % 7 == 3:
            missing = [topic for topic in TOPICS if topic not in doc["labels"]]
            doc["labels"] = sorted(doc["labels"] + missing[:1])  # a topic the text never states: an FN
    path = tmp_path_factory.mktemp("eval") / "eval.jsonl"
    path.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def other_model_file(tmp_path_factory, corpus, taxonomy) -> Path:
    """A second, weaker model on the same topics: fewer articles, stronger regularisation."""
    model = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3, seed=1, C=0.05)
    model.fit([d["text"] for d in corpus[:40]], [d["labels"] for d in corpus[:40]])
    path = tmp_path_factory.mktemp("other") / "other.safetensors"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def scores(model_file, eval_file, other_model_file) -> dict:
    """The JSON of `eval --compare` without a report (no matplotlib needed)."""
    result = run("eval", "--data", eval_file, "--model", model_file, "--compare", other_model_file, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def report(tmp_path_factory, model_file, eval_file, other_model_file):
    """One run with --report, --compare and --json: the folder and the parsed JSON."""
    pytest.importorskip("matplotlib")
    folder = tmp_path_factory.mktemp("report") / "out"
    args = ["eval", "--data", eval_file, "--model", model_file, "--compare", other_model_file]
    result = run(*args, "--report", folder, "--json")
    assert result.exit_code == 0, result.output
    assert f"report written to {folder / 'index.html'}" in result.stderr
    return folder, json.loads(result.stdout)


class _Page(HTMLParser):
    """Collects the tags, every src/href and every cell that names its JSON key."""

    def __init__(self):
        super().__init__()
        self.tags, self.links, self.cells = set(), [], []
        self._key = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.links += [attrs[name] for name in ("src", "href") if name in attrs]
        self._key = attrs.get("data-key")

    def handle_data(self, data):
        if self._key is not None:
            self.cells.append((self._key, data))
            self._key = None


def _page(folder: Path) -> _Page:
    page = _Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    return page


def _lookup(result: dict, key: str):
    value = result
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def test_report_references_only_local_files(report):
    folder, _ = report
    page = _page(folder)
    assert {"script", "link", "iframe", "object"}.isdisjoint(page.tags)
    assert set(page.links) == FIGURES | {"pr_compare.png"}
    for link in page.links:
        assert ":" not in link and not link.startswith("/"), link
        assert (folder / link).is_file()
    text = (folder / "index.html").read_text(encoding="utf-8")
    assert "http:" not in text and "https:" not in text and "url(" not in text


def test_every_png_decodes(report):
    image = pytest.importorskip("matplotlib.image")
    folder, _ = report
    pngs = sorted(folder.glob("*.png"))
    assert {path.name for path in pngs} == FIGURES | {"pr_compare.png"}
    for path in pngs:
        pixels = image.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200, path.name
        assert pixels.std() > 0.01, f"{path.name} is blank"


def test_numbers_in_the_page_are_the_json(report):
    folder, result = report
    cells = _page(folder).cells
    keys = {key for key, _ in cells}
    for topic in TOPICS:
        assert f"overall.labels.{topic}.f1" in keys and f"compare.overall.labels.{topic}.f1" in keys
    assert {"by_language.en.macro.f1", "by_language.de.n", "co_predicted.wrong_rates.0.1"} <= keys
    assert "worst_errors.false_positives.0.score" in keys and "worst_errors.false_negatives.0.score" in keys
    for key, shown in cells:
        value = _lookup(result, key)
        if value is None:
            assert shown == "n/a", key
        elif isinstance(value, int):
            assert int(shown) == value, key
        else:
            decimals = len(shown.partition(".")[2])
            assert decimals >= 2 and abs(float(shown) - value) <= 0.5 * 10**-decimals + 1e-9, (
                key,
                shown,
                value,
            )


def test_report_with_compare_has_the_side_by_side_section(report):
    folder, result = report
    text = (folder / "index.html").read_text(encoding="utf-8")
    assert "<h2>6. Side by side</h2>" in text and '<img src="pr_compare.png"' in text


def test_page_names_the_weakest_topic_and_language(report):
    folder, result = report
    text = (folder / "index.html").read_text(encoding="utf-8")
    f1 = {name: row["f1"] for name, row in result["overall"]["labels"].items()}
    weakest = min(f1, key=lambda name: (f1[name], name))
    assert f"weakest topic: <b>{weakest}</b> (F1 {f1[weakest]:.3f})" in text
    assert "weakest language with 20 or more articles: <b>en</b>" in text  # de has 8 articles: too few
    assert "de *" in text  # the small group is marked in the language table


def test_json_carries_pr_curves_consistent_with_the_table(scores):
    result = scores
    for topic in TOPICS:
        curve, row = result["curves"][topic], result["overall"]["labels"][topic]
        precision, recall, cuts = curve["precision"], curve["recall"], curve["thresholds"]
        assert len(precision) == len(recall) == len(cuts) + 1 and len(cuts) >= 2
        assert (precision[-1], recall[-1]) == (1.0, 0.0)
        assert all(a >= b for a, b in zip(recall, recall[1:], strict=False))
        assert cuts == sorted(cuts)
        # the curve's point at the stored threshold is the precision and recall the table shows
        at = next(i for i, cut in enumerate(cuts) if cut >= curve["threshold"] - 5e-5)
        assert precision[at] == pytest.approx(row["precision"], abs=1e-3)
        assert recall[at] == pytest.approx(row["recall"], abs=1e-3)


def test_worst_errors_are_real_errors_ranked_with_their_evidence(scores, eval_file):
    result = scores
    docs = {doc["id"]: doc for doc in map(json.loads, eval_file.read_text(encoding="utf-8").splitlines())}
    errors = result["worst_errors"]
    assert errors["false_positives"] and errors["false_negatives"]
    for kind, wrong in (("false_positives", True), ("false_negatives", False)):
        scores = [error["score"] for error in errors[kind]]
        assert scores == sorted(scores, reverse=wrong)
        for error in errors[kind]:
            doc = docs[error["id"]]
            assert (error["topic"] in doc["labels"]) is not wrong
            assert (error["score"] >= error["threshold"]) is wrong
            assert error["language"] == doc["language"] and set(error["truth"]) == set(doc["labels"])
            sentence = error["evidence"]
            assert (
                sentence is not None and doc["text"][sentence["start"] : sentence["end"]] == sentence["text"]
            )


def test_compare_puts_two_models_side_by_side(scores, model_file, eval_file, other_model_file):
    result = scores
    assert result["model"] == str(model_file) and result["compare"]["model"] == str(other_model_file)
    assert set(result["compare"]["overall"]["labels"]) == set(TOPICS)
    assert result["compare"]["overall"]["macro"] != result["overall"]["macro"]
    text = run("eval", "--data", eval_file, "--model", model_file, "--compare", other_model_file)
    assert text.exit_code == 0, text.output
    assert f"side by side: A = {model_file}, B = {other_model_file}" in text.stdout
    a, b = result["overall"]["macro"]["f1"], result["compare"]["overall"]["macro"]["f1"]
    assert f"{'macro':<16}{a:>10.3f}{b:>10.3f}{b - a:>+10.3f}" in text.stdout


def test_missing_matplotlib_is_one_line(model_file, eval_file, tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import of a None entry raises ImportError
    folder = tmp_path / "never"
    result = run("eval", "--data", eval_file, "--model", model_file, "--report", folder)
    assert result.exit_code == EXIT_FAILURE
    assert result.output == "error: the report needs matplotlib: pip install 'toolkit[report]'\n"
    assert not folder.exists()


def test_report_into_a_file_is_one_line(model_file, eval_file, tmp_path):
    pytest.importorskip("matplotlib")
    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    result = run("eval", "--data", eval_file, "--model", model_file, "--report", taken)
    assert result.exit_code == EXIT_FAILURE
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_cli_help_and_classify_never_import_matplotlib(model_file, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(
        "The foundry will produce semiconductors on a new 3 nanometre process.\n", encoding="utf-8"
    )
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from toolkit.cli import app\n"
        "assert 'matplotlib' not in sys.modules, 'import toolkit.cli'\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "assert CliRunner().invoke(app, ['eval', '--help']).exit_code == 0\n"
        f"args = ['classify', {str(article)!r}, '--model', {str(model_file)!r}]\n"
        "assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print(sorted(name for name in sys.modules if name.startswith('matplotlib')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_co_predictions_count_right_and_wrong_co_labels():
    truth = np.array([[1, 1], [1, 0], [1, 0], [0, 1]], dtype=bool)
    predicted = np.array([[1, 1], [1, 1], [0, 0], [1, 1]], dtype=bool)
    co = co_predictions(truth, predicted, ["a", "b"])
    assert co["support"] == [3, 2]
    assert co["counts"] == [[2, 2], [2, 2]]
    assert co["rates"] == [[0.6667, 0.6667], [1.0, 1.0]]
    # of the 2 articles carrying a but not b, one is given b; of the 1 carrying b but not a, it is given a
    assert co["wrong_counts"] == [[0, 1], [1, 0]]
    assert co["wrong_rates"] == [[None, 0.5], [1.0, None]]


def test_pr_curves_leave_out_labels_without_positives():
    truth = np.array([[1, 0], [0, 0], [1, 0]], dtype=bool)
    proba = np.array([[0.9, 0.2], [0.4, 0.7], [0.3, 0.1]])
    curves = pr_curves(truth, proba, ["a", "b"], [0.5, 0.5])
    assert curves["b"]["precision"] is None and curves["b"]["average_precision"] is None
    assert curves["a"]["average_precision"] == pytest.approx((1.0 + 2 / 3) / 2, abs=1e-4)
    assert curves["a"]["recall"][0] == 1.0 and curves["a"]["thresholds"] == [0.3, 0.4, 0.9]
    # the table's macro average leaves "b" out the same way sklearn does with labels= the present ones
    from sklearn.metrics import f1_score

    predicted = proba >= 0.5
    expected = f1_score(truth, predicted, labels=[0], average="macro", zero_division=0)
    assert label_scores(truth, predicted, ["a", "b"])["macro"]["f1"] == pytest.approx(expected, abs=1e-4)
