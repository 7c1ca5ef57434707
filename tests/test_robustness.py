"""Nothing lost: killed and resumed batches, Ctrl-C, random bytes and text through classify and label."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit.cli import app

runner = CliRunner()
_TOPIC_TEXT = "The start-up raised {i} million dollars for AI chips, and robots learn in the factory."


def _write_input(path, n):
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(
                json.dumps({"id": f"r{i}", "text": _TOPIC_TEXT.format(i=i) + " filler" * (i % 7)}) + "\n"
            )


def _start(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for_lines(path, minimum, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= minimum:
            return
        if process.poll() is not None:
            raise AssertionError(f"finished before it could be interrupted: {process.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("no output appeared")


def _check_complete(out_path, n):
    lines = out_path.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert ids == [f"r{i}" for i in range(n)]


def _label_running(model_file, tmp_path, n):
    """Start `toolkit label` on ``n`` records and return once some output is on disk.

    The records go in through standard input and only the first 1,000 of
    them are sent, so the run is still waiting for input whenever the test
    interrupts it, however fast labelling is; resuming then reads the whole
    file.
    """
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(source, n)
    process = _start(
        ["label", "-", "--output", out, "--model", model_file, "--batch-size", "25"], stdin=subprocess.PIPE
    )
    with open(source, encoding="utf-8") as handle:
        process.stdin.write("".join(handle.readline() for _ in range(1000)))
    process.stdin.flush()
    _wait_for_lines(out, 200, process)
    return source, out, process


def test_sigkill_then_resume_gives_each_record_once(model_file, tmp_path):
    n = 4000
    source, out, process = _label_running(model_file, tmp_path, n)
    process.kill()
    process.wait()
    process.stdin.close()
    written = out.read_bytes().count(b"\n")
    assert 0 < written < n
    with open(out, "ab") as handle:  # as if the kill had landed in the middle of a write
        handle.write(b'{"id": "r99999", "status": "o')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit",
            "label",
            str(source),
            "--output",
            str(out),
            "--model",
            str(model_file),
            "--resume",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "resumed after" in result.stderr
    _check_complete(out, n)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(model_file, tmp_path):
    n = 4000
    source, out, process = _label_running(model_file, tmp_path, n)
    process.send_signal(signal.SIGINT)
    process.stdin.close()
    stderr = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 130
    assert "interrupted after" in stderr and "--resume" in stderr and "Traceback" not in stderr
    result = runner.invoke(
        app, ["label", str(source), "--output", str(out), "--model", str(model_file), "--resume"]
    )
    assert result.exit_code == 0, result.output
    _check_complete(out, n)


def test_resume_needs_output(model_file, tmp_path):
    result = runner.invoke(app, ["label", "-", "--resume", "--model", str(model_file)], input="")
    assert result.exit_code == 2 and "--resume needs --output" in result.output


def test_workers_keep_order(model_file, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(source, 300)
    result = runner.invoke(
        app,
        [
            "label",
            str(source),
            "--output",
            str(out),
            "--model",
            str(model_file),
            "--workers",
            "2",
            "--batch-size",
            "16",
        ],
    )
    assert result.exit_code == 0, result.output
    _check_complete(out, 300)


_lines = st.one_of(
    st.builds(lambda i, t: json.dumps({"id": i, "text": t}), st.integers(0, 20), st.text(max_size=200)),
    st.builds(lambda t: json.dumps({"text": t}), st.text(max_size=50)),
    st.builds(
        lambda v: json.dumps({"id": "x", "text": v}), st.one_of(st.integers(), st.none(), st.lists(st.text()))
    ),
    st.text(max_size=80).filter(lambda s: "\n" not in s and "\r" not in s),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ").decode("latin-1")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_lines, max_size=25))
def test_label_one_valid_record_out_per_record_in(model_file, lines):
    data = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    result = runner.invoke(
        app, ["label", "-", "--format", "jsonl", "--model", str(model_file), "--batch-size", "4"], input=data
    )
    assert result.exit_code in (0, 3), result.output
    expected = sum(1 for line in data.split(b"\n") if line.strip())
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(records) == expected
    assert all(r["status"] in ("ok", "error") and "id" in r for r in records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=400), st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass"))
    )
)
def test_classify_never_crashes_on_random_content(model_file, tmp_path_factory, content):
    path = tmp_path_factory.mktemp("random") / "input.txt"
    path.write_bytes(content)
    result = runner.invoke(app, ["classify", str(path), "--json", "--model", str(model_file)])
    assert result.exit_code in (0, 1), result.output
    record = json.loads(result.stdout)
    assert record["id"] == str(path) and record["status"] in ("ok", "error")
    assert (result.exit_code == 0) == (record["status"] == "ok")
