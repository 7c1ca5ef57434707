"""Progress on stderr: when it is shown, what fit reports, and the CLI's bars (never on stdout)."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import TOPICS_FILE, make_corpus
from toolkit.classifier import TopicClassifier
from toolkit.cli import app
from toolkit.progress import Progress, count_records, progress_wanted

runner = CliRunner()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("forced", "terminal", "ci", "expected"),
    [
        (None, True, None, True),
        (None, True, "true", False),  # CI: no bars unless forced
        (None, False, None, False),  # piped
        (True, False, "true", True),
        (False, True, None, False),
    ],
)
def test_bars_only_in_a_terminal_outside_ci_unless_forced(monkeypatch, forced, terminal, ci, expected):
    monkeypatch.setattr("sys.stderr", _Terminal() if terminal else io.StringIO())
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert progress_wanted(forced) is expected


def test_one_bar_per_stage_with_counts_on_stderr(capsys):
    bars = Progress(True)
    bars("cleaning", 0, 3)
    bars("cleaning", 3, 3)
    bars("embedding", 5, 10)
    bars.close()
    bars.close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cleaning: 100%" in captured.err and "3/3" in captured.err
    assert "embedding:" in captured.err and "5/10" in captured.err


def test_a_disabled_progress_draws_nothing(capsys):
    bars = Progress(False, "labelled")
    bars.update(5)
    bars.close()
    assert capsys.readouterr() == ("", "")


def test_records_are_counted_from_a_regular_file_only(tmp_path):
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": 1}\n{"id": 2}\n{"id": 3}', encoding="utf-8")  # no final newline
    csv = tmp_path / "a.csv"
    csv.write_text("id,text\n1,a\n2,b\n", encoding="utf-8")
    array = tmp_path / "a.json"
    array.write_text('[{"id": 1},\n{"id": 2}]\n', encoding="utf-8")
    assert count_records(str(jsonl)) == 3
    assert count_records(str(csv)) == 2
    assert count_records(str(jsonl), fmt="csv") == 2
    assert count_records(str(array)) is None
    assert count_records("-") is None
    assert count_records(str(tmp_path / "missing.jsonl")) is None
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert count_records(str(fifo)) is None  # never opened: no waiting for a writer


@pytest.fixture(scope="module")
def small():
    docs = make_corpus(30, seed=3)
    return [d["text"] for d in docs], [d["labels"] for d in docs]


def test_fit_reports_its_stages_in_order_and_ends_each(small, taxonomy):
    calls = []
    model = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3, seed=0)
    model.fit(*small, progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["cleaning", "embedding", "cross-validation", "heads"]
    last = {stage: (done, total) for stage, done, total in calls}
    assert last["cleaning"] == (30, 30)
    assert last["cross-validation"] == (3, 3)
    assert last["heads"] == (len(taxonomy.names), len(taxonomy.names))
    assert last["embedding"][0] == last["embedding"][1] >= 30  # units: at least one an article


def test_fit_learns_the_same_model_with_or_without_a_callback(small, taxonomy):
    quiet = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3, seed=0).fit(*small)
    shown = TopicClassifier(encoder="hashing", topics=taxonomy, cv=3, seed=0).fit(
        *small, progress=lambda *_: None
    )
    np.testing.assert_array_equal(quiet.coef_, shown.coef_)
    np.testing.assert_array_equal(quiet.thresholds_, shown.thresholds_)


def test_train_shows_stages_on_stderr_when_forced(corpus_file, tmp_path):
    args = ["train", "--data", str(corpus_file), "--out", str(tmp_path / "m"), "--encoder", "hashing"]
    args += ["--cv", "3", "--topics", str(TOPICS_FILE)]
    shown = runner.invoke(app, [*args, "--progress"])
    assert shown.exit_code == 0, shown.output
    for stage in ("cleaning", "embedding", "cross-validation: 100%", "3/3", "heads"):
        assert stage in shown.stderr
    assert "cross-validation:" not in shown.stdout
    piped = runner.invoke(app, [*args, "--out", str(tmp_path / "m2")])  # the runner is no terminal
    assert piped.exit_code == 0 and "cross-validation:" not in piped.stderr


def test_label_shows_total_for_a_file_and_a_count_for_stdin(model_file, tmp_path):
    rows = [{"id": str(i), "text": d["text"]} for i, d in enumerate(make_corpus(12, seed=5))]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    base = ["label", "--model", str(model_file), "--batch-size", "4"]
    from_file = runner.invoke(app, [*base, str(feed), "--output", str(tmp_path / "o.jsonl"), "--progress"])
    assert from_file.exit_code == 0, from_file.output
    assert "12/12" in from_file.stderr and "100%" in from_file.stderr
    from_stdin = runner.invoke(app, [*base, "-", "--progress"], input=feed.read_text(encoding="utf-8"))
    assert from_stdin.exit_code == 0, from_stdin.output
    assert "12 records" in from_stdin.stderr and "/12" not in from_stdin.stderr
    assert [json.loads(line)["id"] for line in from_stdin.stdout.splitlines()] == [r["id"] for r in rows]
    quiet = runner.invoke(app, [*base, str(feed)])
    assert quiet.exit_code == 0 and "records/s" not in quiet.stderr and "12 records [" not in quiet.stderr
