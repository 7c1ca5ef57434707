"""The Dask engine: a real local cluster labels files exactly as `toolkit label` does, a dead worker
included; the Python API labels bags and frames; models pickle after use; dask stays optional."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, make_corpus
from toolkit.classifier import TopicClassifier
from toolkit.cli import app
from toolkit.engines import label_frame, label_items
from toolkit.errors import ToolkitError, UsageError
from toolkit.labelling import label_file

runner = CliRunner()
BATCH = 10


def _write_input(path, n=500, malformed_every=100):
    """JSONL with 1% malformed lines, a blank line, a missing text and a repeated id."""
    docs = make_corpus(n, seed=3)
    lines = []
    for i, doc in enumerate(docs):
        if i % malformed_every == 41:
            lines.append('{"id": "cut", "text": "half a line\n')
            continue
        lines.append(json.dumps({"id": doc["id"], "text": doc["text"], "url": f"https://x/{i}"}) + "\n")
    lines.insert(n // 4, "\n")
    lines.insert(n * 2 // 5, json.dumps({"id": "no-text"}) + "\n")
    lines.insert(n * 3 // 5, json.dumps({"id": docs[n // 2]["id"], "text": "the same id again"}) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("distributed")
    from toolkit.dask import local_cluster

    cluster = local_cluster(2)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def model(model_file):
    return TopicClassifier.load(model_file)


def _plain(model, source, output, **options):
    return label_file(model, source, output, batch_size=BATCH, **options)


def _on_dask(model, source, output, cluster, **options):
    from toolkit.engines.dask import label_file_on_dask

    return label_file_on_dask(
        model,
        source,
        output,
        scheduler=cluster.scheduler_address,
        batch_size=BATCH,
        partition_batches=2,
        **options,
    )


# ---- dask stays optional --------------------------------------------------------------------------


def test_the_base_install_never_imports_dask():
    code = (
        "import sys, toolkit.cli, toolkit.dask, toolkit.engines; "
        "from typer.testing import CliRunner; CliRunner().invoke(toolkit.cli.app, ['--help']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_missing_dask_says_how_to_install_it(monkeypatch, model, tmp_path):
    from toolkit.engines.dask import label_file_on_dask

    monkeypatch.setitem(sys.modules, "distributed", None)
    source = _write_input(tmp_path / "in.jsonl", n=20)
    with pytest.raises(ToolkitError, match=r"pip install 'toolkit\[dask\]'"):
        label_file_on_dask(model, source, tmp_path / "out.jsonl", local=1)
    assert not (tmp_path / "out.jsonl").exists()


# ---- models travel to workers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fast", "default"])
def test_shipped_models_pickle_after_predicting(name):
    from toolkit.encoders.e5 import cpu_supported
    from toolkit.resources import model_path

    if name == "default" and not cpu_supported():
        pytest.skip("the default model's encoder needs AVX2 and FMA")
    model = TopicClassifier.load(model_path(name))
    texts = [
        "The central bank raised interest rates on Tuesday.",
        "Chipmakers expand a wafer fab in Arizona.",
    ]
    before = model.predict_proba(texts)  # loads the encoder and fills the tokenizer's chunk cache
    again = pickle.loads(pickle.dumps(model))
    assert (again.predict_proba(texts) == before).all()


# ---- the CLI's engine options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--local", "2"], "add --engine dask"),
        (["--engine", "spark", "-o", "out.jsonl"], "unknown engine 'spark'"),
        (["--engine", "dask"], "needs --output"),
        (["--engine", "dask", "-o", "out.jsonl", "--workers", "2"], "use --local N"),
        (["--engine", "dask", "-o", "out.jsonl", "--local", "2", "--scheduler", "tcp://x:1"], "cannot go"),
    ],
)
def test_engine_options_that_cannot_go_together_are_usage_errors(
    extra, message, model_file, tmp_path, monkeypatch
):
    source = _write_input(tmp_path / "in.jsonl", n=10)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["label", str(source), "--model", str(model_file), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_resuming_a_plain_run_on_dask_is_refused_before_any_cluster_starts(model, tmp_path):
    pytest.importorskip("distributed")
    source = _write_input(tmp_path / "in.jsonl", n=30)
    output = tmp_path / "out.jsonl"
    _plain(model, source, output)
    before = output.read_bytes()
    from toolkit.engines.dask import label_file_on_dask

    with pytest.raises(UsageError, match="other options"):  # no scheduler listens there: never reached
        label_file_on_dask(
            model, source, output, scheduler="tcp://127.0.0.1:9", batch_size=BATCH, resume=True
        )
    assert output.read_bytes() == before


# ---- a real local cluster --------------------------------------------------------------------------


def test_the_local_cluster_listens_on_loopback_with_two_worker_processes(cluster):
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert len(cluster.workers) == 2
    assert all(address.startswith("tcp://127.0.0.1:") for address in cluster.scheduler.workers)
    from distributed import Client

    with Client(cluster) as client:
        pids = client.run(os.getpid)
        environ = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        assert set(environ.values()) == {None}


def test_dask_output_is_byte_identical_to_toolkit_label(cluster, model, tmp_path):
    source = _write_input(tmp_path / "in.jsonl")
    plain, engine = tmp_path / "plain.jsonl", tmp_path / "dask.jsonl"
    expected = _plain(model, source, plain, keep=["url"])
    counts = _on_dask(model, source, engine, cluster, keep=["url"])
    assert engine.read_bytes() == plain.read_bytes()
    records = [json.loads(line) for line in engine.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 502  # 503 lines, one blank
    assert counts["ok"] == expected["ok"] and counts["error"] == expected["error"] == 7
    errors = [record for record in records if record["status"] == "error"]
    cut = [number for number, line in enumerate(source.open(encoding="utf-8"), 1) if '"cut"' in line]
    assert len(cut) == 5
    assert [record["line"] for record in errors if record["error"].startswith("malformed JSON")] == cut
    assert any(record["error"].startswith("duplicate id") for record in errors)
    assert not (tmp_path / "dask.jsonl.parts").exists()
    run = json.loads((tmp_path / "dask.jsonl.run.json").read_text())
    assert run["options"]["engine"] == {"name": "dask", "partition_records": 2 * BATCH}


def test_csv_in_and_out_and_parquet_out_match_toolkit_label(cluster, model, tmp_path):
    source = tmp_path / "in.csv"
    rows = ["id,text,url\r\n"] + [f'{d["id"]},"{d["text"]}",u{i}\r\n' for i, d in enumerate(make_corpus(60))]
    rows.insert(30, 'bad,"an unclosed quote\r\n')
    source.write_text("".join(rows), encoding="utf-8")
    _plain(model, source, tmp_path / "plain.csv", keep_all=True)
    _on_dask(model, source, tmp_path / "dask.csv", cluster, keep_all=True)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    pq = pytest.importorskip("pyarrow.parquet")
    _plain(model, source, tmp_path / "plain.parquet", keep=["url"])
    _on_dask(model, source, tmp_path / "dask.parquet", cluster, keep=["url"])
    assert pq.read_table(tmp_path / "dask.parquet").equals(pq.read_table(tmp_path / "plain.parquet"))
    assert not (tmp_path / "dask.parquet.spool.jsonl").exists()


def test_a_worker_killed_mid_job_still_gives_the_full_identical_output(cluster, model, tmp_path):
    from distributed import Client

    source = _write_input(tmp_path / "in.jsonl")
    _plain(model, source, tmp_path / "plain.jsonl")
    killed = {}
    with Client(cluster) as client:
        before = set(client.run(os.getpid).values())

        def kill_a_busy_worker(done):
            if killed:
                return
            busy = [address for address, keys in client.processing().items() if keys]
            address = busy[0] if busy else next(iter(client.scheduler_info()["workers"]))
            pid = client.run(os.getpid, workers=[address])[address]
            os.kill(pid, signal.SIGKILL)
            killed["pid"] = pid

        counts = _on_dask(model, source, tmp_path / "dask.jsonl", cluster, on_progress=kill_a_busy_worker)
        client.wait_for_workers(2, timeout=60)
        after = set(client.run(os.getpid).values())
    assert killed["pid"] in before and killed["pid"] not in after
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    assert counts["ok"] + counts["error"] == 502


def test_a_partition_the_scheduler_cancels_is_run_again(cluster, model, tmp_path):
    from distributed import Client, Future

    source = _write_input(tmp_path / "in.jsonl")
    _plain(model, source, tmp_path / "plain.jsonl")
    cancelled = []
    with Client(cluster) as client:

        def cancel_a_running_partition(done):
            if cancelled:
                return
            keys = [
                key for keys in client.processing().values() for key in keys if "_label_partition" in str(key)
            ]
            if keys:
                client.cancel([Future(keys[0], client=client)], force=True)
                cancelled.append(keys[0])

        counts = _on_dask(
            model, source, tmp_path / "dask.jsonl", cluster, on_progress=cancel_a_running_partition
        )
    assert cancelled
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    assert counts["ok"] + counts["error"] == 502


def test_an_interrupted_run_resumes_only_its_unfinished_parts(cluster, model, tmp_path):
    source = _write_input(tmp_path / "in.jsonl")
    _plain(model, source, tmp_path / "plain.jsonl")
    output = tmp_path / "dask.jsonl"

    def stop(done):
        if done >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _on_dask(model, source, output, cluster, on_progress=stop)
    parts = sorted((tmp_path / "dask.jsonl.parts").iterdir())
    assert parts and len(parts) < 26
    counts = _on_dask(model, source, output, cluster, resume=True)
    assert counts["skipped"] == 2 * BATCH * len(parts)  # the finished parts are not labelled again
    assert counts["skipped"] + counts["ok"] + counts["error"] == 502
    assert output.read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    assert not (tmp_path / "dask.jsonl.parts").exists()
    with pytest.raises(UsageError, match="its run finished"):
        _on_dask(model, source, output, cluster, resume=True)


def test_a_changed_input_is_not_resumed(cluster, model, tmp_path):
    source = _write_input(tmp_path / "in.jsonl", n=100)
    output = tmp_path / "dask.jsonl"

    def stop(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _on_dask(model, source, output, cluster, on_progress=stop)
    source.write_text(
        source.read_text(encoding="utf-8") + '{"id": "new", "text": "more"}\n', encoding="utf-8"
    )
    with pytest.raises(UsageError, match="the input changed"):
        _on_dask(model, source, output, cluster, resume=True)


# ---- the Python API --------------------------------------------------------------------------------


def test_label_bag_gives_one_output_per_item_in_order(cluster, model):
    import dask.bag as db
    from distributed import Client

    from toolkit.dask import label_bag

    docs = make_corpus(40, seed=5)
    items = [{"id": d["id"], "text": d["text"]} for d in docs]
    items[7] = '{"id": "broken"'
    items[9] = json.dumps({"id": "as-a-line", "text": docs[9]["text"]})
    with Client(cluster):
        labelled = label_bag(db.from_sequence(items, npartitions=4), model).compute()
    assert labelled == label_items(model, items)
    assert len(labelled) == 40 and labelled[7]["status"] == "error" and "line" not in labelled[7]
    assert labelled[9]["id"] == "as-a-line" and labelled[9]["status"] == "ok"


def test_label_dataframe_keeps_rows_index_and_ids(cluster, model):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd
    from distributed import Client

    from toolkit.dask import label_dataframe

    docs = make_corpus(30, seed=6)
    frame = pd.DataFrame(
        {"id": ["007", *[d["id"] for d in docs[1:]]], "text": [d["text"] for d in docs], "url": range(30)}
    )
    frame.loc[4, "text"] = None
    with Client(cluster):
        labelled = label_dataframe(dd.from_pandas(frame, npartitions=3), model, keep=["url"]).compute()
    local = label_frame(model, frame, keep=["url"])
    pd.testing.assert_frame_equal(labelled, local)
    assert list(labelled.index) == list(frame.index) and labelled["id"].iloc[0] == "007"
    assert labelled.loc[4, "status"] == "error" and labelled.loc[4, "error"] == "missing 'text'"
    assert list(labelled["url"]) == list(range(30))
