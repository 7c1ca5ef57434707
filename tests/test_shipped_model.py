"""The shipped default model (static tier): loads under the installed libraries and labels the seeds right."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SHARED_SEEDS
from toolkit.cli import app, default_model_path
from toolkit.encoders import StaticEncoder

runner = CliRunner()


def test_shipped_model_loads_and_matches_installed_encoder():
    result = runner.invoke(app, ["info", str(default_model_path()), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["encoder"]["hash"] == StaticEncoder().fingerprint()


@pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason="../shared/seeds is not present")
def test_seed_articles_get_their_topics():
    expected = {
        json.loads(line)["file"]: json.loads(line)
        for line in (SHARED_SEEDS / "labels.jsonl").read_text().splitlines()
        if line.strip()
    }
    paths = [str(SHARED_SEEDS / name) for name in sorted(expected)]
    result = runner.invoke(app, ["classify", *paths, "--json"])
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines():
        record = json.loads(line)
        truth = expected[record["id"].rsplit("/", 1)[-1]]
        assert record["language"] == truth["language"]
        assert record["wrapper_language"] == truth["wrapper_language"]
        assert sorted(record["labels"]) == sorted(truth["labels"]), (record["id"], record["scores"])


def test_samples_get_their_topics():
    expected = {
        "en_in_arabic_chrome": ["chips", "funding"],
        "en_ticker_newsletter": ["chips", "funding"],
        "ja_with_menus": ["consortium", "physical_ai"],
        "fr_plain": [],
    }
    result = runner.invoke(app, ["label", str(ROOT / "seeds" / "samples" / "batch.jsonl")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {r["id"]: sorted(r["labels"]) for r in records} == expected


def test_default_classify_path_imports_no_torch(tmp_path):
    import subprocess

    code = (
        "import sys; from typer.testing import CliRunner; from toolkit.cli import app; "
        f"r = CliRunner().invoke(app, ['classify', {str(ROOT / 'seeds' / 'samples' / 'fr_plain.txt')!r}]); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_imports_nothing_heavy():
    import subprocess

    code = (
        "import sys; from toolkit.cli import app; "
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'numpy', 'model2vec') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
