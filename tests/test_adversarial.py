"""What an adversarial test of `toolkit label` and `classify` found (issue 12): each case, reproduced.

Data lost or silently wrong, runs that hang or grow without bound, tracebacks
and wrong exit codes. Every test here failed on the code before the fix.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import InputError, UsageError
from toolkit.io import Record, iter_records
from toolkit.io.readers import _SeenIds
from toolkit.labelling import label_batch, label_file, run_record_path

_TEXT = "The start-up raised {i} million dollars for AI chips, and robots learn in the factory."


def _records(n: int, start: int = 0) -> str:
    return "".join(
        json.dumps({"id": f"r{i}", "text": _TEXT.format(i=i)}) + "\n" for i in range(start, start + n)
    )


def _toolkit(*args, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "toolkit", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def _shell(command: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a shell line with ``TOOLKIT`` standing for this interpreter's toolkit."""
    line = command.replace("TOOLKIT", f"{sys.executable} -m toolkit")
    return subprocess.run(line, shell=True, capture_output=True, text=True, timeout=timeout)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _ids(path: Path) -> list:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def _cut_to(path: Path, lines: int) -> None:
    kept = path.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]
    path.write_text("".join(kept), encoding="utf-8")


# ---- 1. the input destroyed through stdin ---------------------------------------------------------


def test_stdin_that_is_the_output_file_is_refused_and_kept(model_file, tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text(_records(5), encoding="utf-8")
    before = source.read_bytes()
    with open(source, "rb") as stdin:
        result = _toolkit("label", "-", "--output", source, "--model", model_file, stdin=stdin)
    assert result.returncode == 2
    assert "is the input file" in _one_line_error(result)
    assert source.read_bytes() == before


def test_stdout_appending_to_the_input_is_refused(model_file, tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text(_records(5), encoding="utf-8")
    before = source.read_bytes()
    result = _shell(f"TOOLKIT label {source} --model {model_file} >> {source}")
    assert result.returncode == 2
    assert "standard output is the input file" in _one_line_error(result)
    assert source.read_bytes() == before


# ---- 2. two runs on one output ------------------------------------------------------------------------


def test_a_second_run_on_a_busy_output_is_refused_and_the_first_finishes(model_file, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_records(300), encoding="utf-8")
    first = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "label", "-", "--output", str(out), "--model", str(model_file)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first.stdin.write(_records(100))
    first.stdin.flush()
    deadline = time.time() + 60
    while not (out.exists() and out.read_bytes().count(b"\n") >= 64) and time.time() < deadline:
        time.sleep(0.05)
    for extra in ([], ["--resume"]):
        second = _toolkit("label", source, "--output", out, "--model", model_file, *extra)
        assert second.returncode == 1
        assert "being written by another" in _one_line_error(second)
    first.stdin.write(_records(200, start=100))
    first.stdin.close()
    assert first.wait(timeout=60) == 0, first.stderr.read()
    assert _ids(out) == [f"r{i}" for i in range(300)]


# ---- 3. resume checks the file it continues ------------------------------------------------------------


@pytest.fixture
def interrupted(fitted, tmp_path):
    """An input of 200 records and an output holding its first 70, as a killed run leaves them."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_records(200), encoding="utf-8")
    label_file(fitted, source, out, batch_size=10)
    _cut_to(out, 70)
    return source, out


def test_resume_goes_on_with_the_same_input_and_model(fitted, interrupted):
    source, out = interrupted
    counts = label_file(fitted, source, out, batch_size=10, resume=True)
    assert counts["skipped"] == 70 and counts["ok"] == 130
    assert _ids(out) == [f"r{i}" for i in range(200)]


@pytest.mark.parametrize("change", ["reordered", "shortened", "edited", "replaced"])
def test_resume_refuses_a_changed_input(fitted, interrupted, change):
    source, out = interrupted
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    if change == "reordered":
        lines = lines[::-1]
    elif change == "shortened":
        lines = lines[:50]
    elif change == "edited":  # same ids in the same order, another text
        lines[3] = lines[3].replace("million", "billion")
    else:
        lines = [_records(1, start=i + 5000) for i in range(200)]
    source.write_text("".join(lines), encoding="utf-8")
    before = out.read_bytes()
    with pytest.raises(UsageError, match="cannot resume"):
        label_file(fitted, source, out, batch_size=10, resume=True)
    assert out.read_bytes() == before


def test_resume_checks_ids_in_order_when_the_input_is_piped(fitted, interrupted, monkeypatch):
    source, out = interrupted
    shuffled = source.read_text(encoding="utf-8").splitlines(keepends=True)[::-1]
    piped = tmp_input = out.parent / "piped.jsonl"
    tmp_input.write_text("".join(shuffled), encoding="utf-8")
    with open(piped, "rb") as handle:
        monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": handle, "fileno": lambda self: -1})())
        with pytest.raises(UsageError, match="has id 'r0' where the input has 'r199'"):
            label_file(fitted, "-", out, batch_size=10, resume=True)


def test_resume_refuses_another_models_output(fitted, interrupted):
    source, out = interrupted
    other = copy.deepcopy(fitted)
    other.thresholds_ = np.clip(other.thresholds_ + 0.05, 0, 1)
    with pytest.raises(UsageError, match="another model"):
        label_file(other, source, out, batch_size=10, resume=True)


def test_resume_refuses_other_options(fitted, interrupted):
    source, out = interrupted
    with pytest.raises(UsageError, match="other options"):
        label_file(fitted, source, out, batch_size=10, resume=True, id_field="key")


def test_resume_refuses_a_file_it_did_not_write(fitted, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "notes.jsonl"
    source.write_text(_records(20), encoding="utf-8")
    out.write_text('{"id": "r0", "something": "else"}\n{"half', encoding="utf-8")
    before = out.read_bytes()
    with pytest.raises(UsageError, match="no run record"):
        label_file(fitted, source, out, resume=True)
    assert out.read_bytes() == before and not run_record_path(out).exists()


# ---- 4. parsing that loses or invents records ---------------------------------------------------------


def test_an_unclosed_csv_quote_costs_one_record_not_the_rows_after_it(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text('id,text\na,first row\nb,"never closed\nc,third row\nd,fourth row\n', encoding="utf-8")
    records = list(iter_records(path))
    assert [(r.id, r.error is None) for r in records] == [
        ("a", True),
        (None, False),
        ("c", True),
        ("d", True),
    ]
    assert records[1].line == 3 and "malformed CSV" in records[1].error


def test_a_stray_quote_then_a_valid_multiline_field(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text('id,text\na,"ok"x\nb,"two\nlines"\nc,plain\n', encoding="utf-8")
    records = list(iter_records(path))
    assert [r.id for r in records] == [None, "b", "c"]
    assert records[1].text == "two\nlines" and records[1].line == 3


def test_a_bare_carriage_return_does_not_split_a_jsonl_record(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b'{"id": "a", "text": "one\rtwo"}\n{"id": "b", "text": "fine"}\r\n')
    records = list(iter_records(path))
    assert len(records) == 2
    assert records[0].error.startswith("malformed JSON") and records[0].line == 1
    assert records[1].id == "b" and records[1].text == "fine"


def test_a_repeated_csv_header_column_is_refused(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("id,text,text\na,one,two\n", encoding="utf-8")
    with pytest.raises(InputError, match="repeats column 'text'"):
        iter_records(path)


# ---- 5. never NaN in the output -------------------------------------------------------------------------


def test_a_non_finite_score_becomes_an_error_record_not_invalid_json(fitted):
    broken = copy.deepcopy(fitted)
    broken.coef_ = broken.coef_.copy()
    broken.coef_[0, :] = np.nan
    outputs = label_batch(broken, [Record("x", _TEXT.format(i=1), 1), Record("y", "", 2)])
    assert outputs[0]["status"] == "error" and "non-finite" in outputs[0]["error"]
    for out in outputs:
        json.loads(json.dumps(out, allow_nan=False))


# ---- 8. a killed worker -----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(part) for part in path.read_text().split()] if path.exists() else []


def _two_worker_job_under_way(model_file, out):
    """`label - --workers 2` fed 100 records, stdin left open, once 50 are on disk: the job, its workers."""
    job = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "label", "-", "--output", str(out), "--model", str(model_file)]
        + ["--workers", "2", "--batch-size", "10"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    job.stdin.write(_records(100))
    job.stdin.flush()
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and out.read_bytes().count(b"\n") >= 50):
        time.sleep(0.05)
    return job, _children(job.pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers through /proc")
def test_killing_a_worker_fails_the_job_instead_of_hanging(model_file, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_records(600), encoding="utf-8")
    job, workers = _two_worker_job_under_way(model_file, out)
    assert workers, "no worker processes found"
    os.kill(workers[0], signal.SIGKILL)
    try:
        job.stdin.write(_records(500, start=100))
        job.stdin.close()
    except BrokenPipeError:
        pass
    assert job.wait(timeout=60) == 1
    stderr = job.stderr.read()
    assert "worker process died" in stderr and "Traceback" not in stderr
    written = _ids(out)  # every line whole
    assert written == [f"r{i}" for i in range(len(written))]
    result = _toolkit("label", source, "--output", out, "--model", model_file, "--resume")
    assert result.returncode == 0, result.stderr
    assert _ids(out) == [f"r{i}" for i in range(600)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers through /proc")
def test_sigterm_with_workers_stops_cleanly_and_says_how_to_resume(model_file, tmp_path):
    job, workers = _two_worker_job_under_way(model_file, tmp_path / "out.jsonl")
    job.terminate()
    assert job.wait(timeout=30) == 128 + signal.SIGTERM
    time.sleep(0.5)
    stderr = job.stderr.read()
    assert "Traceback" not in stderr and "interrupted after" in stderr
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in workers)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


# ---- 9. unbounded reads and hanging opens ---------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_devices_are_refused_in_one_line(model_file):
    result = _toolkit("classify", "/dev/zero", "--model", model_file, "--json")
    assert result.returncode == 1
    assert "not a regular file" in json.loads(result.stdout)["error"]
    result = _toolkit("label", "/dev/zero", "--model", model_file)
    assert result.returncode == 1 and "not a regular file" in _one_line_error(result)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_nul_bytes_on_stdin_end_in_one_line_with_bounded_memory(model_file):
    result = _shell(f"ulimit -v 3000000; TOOLKIT label - --model {model_file} < /dev/zero", timeout=60)
    assert result.returncode == 1
    assert "NUL bytes" in _one_line_error(result)


def test_an_over_long_line_is_one_error_record_and_the_rest_go_on(tmp_path):
    path = tmp_path / "feed.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "long", "text": "x" * 5000}) + "\n" + _records(2))
    records = list(iter_records(path, max_record_chars=1000))
    assert [r.id for r in records] == [None, "r0", "r1"]
    assert "longer than 1,000 characters" in records[0].error


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_without_a_writer_does_not_hang(model_file, tmp_path):
    fifo = tmp_path / "article.fifo"
    os.mkfifo(fifo)
    result = _toolkit("classify", fifo, "--model", model_file, "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["error"] == "text is empty"


# ---- 10. memory flat in the number of records ----------------------------------------------------------


def test_the_duplicate_check_holds_a_window_not_every_id():
    seen = _SeenIds(window=1000, bits=2**16)
    assert not any(seen.repeated(("str", f"id{i}")) for i in range(20_000))
    assert len(seen.recent) == 1000 and len(seen.filter) == 2**13
    assert seen.repeated(("str", "id19990"))  # inside the window: certain
    assert not seen.repeated(("str", "id5"))  # long ago: probable only, counted and kept
    assert seen.maybe_repeated >= 1


def test_a_repeated_id_inside_the_window_is_an_error_record(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(_records(3) + _records(1), encoding="utf-8")
    records = list(iter_records(path))
    assert [r.error for r in records][:3] == [None, None, None]
    assert records[3].error == "duplicate id 'r0'"


# ---- 11, 12. closed streams, absurd options, exit codes --------------------------------------------------


def test_closed_stdin_is_one_line(model_file):
    result = _shell(f"TOOLKIT label - --model {model_file} <&-")
    assert result.returncode == 1 and "standard input is closed" in _one_line_error(result)


def test_closed_stdout_fails_instead_of_losing_the_output(model_file, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text(_TEXT.format(i=3), encoding="utf-8")
    result = _shell(f"TOOLKIT classify {article} --model {model_file} >&-")
    assert result.returncode == 1 and "standard output is closed" in _one_line_error(result)
    source = tmp_path / "in.jsonl"
    source.write_text(_records(3), encoding="utf-8")
    result = _shell(f"TOOLKIT label {source} --model {model_file} >&-")
    assert result.returncode == 1 and "standard output is closed" in _one_line_error(result)


def test_closed_stderr_still_labels(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(_records(3), encoding="utf-8")
    result = _shell(f"TOOLKIT label {source} --model {model_file} 2>&-")
    assert result.returncode == 0
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["r0", "r1", "r2"]


def test_an_absurd_batch_size_is_a_usage_error_before_the_output_is_touched(model_file, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_records(3), encoding="utf-8")
    out.write_text("keep me\n", encoding="utf-8")
    result = _toolkit(
        "label", source, "--output", out, "--model", model_file, "--batch-size", "99999999999999999999"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert out.read_text(encoding="utf-8") == "keep me\n"


def test_an_unknown_format_is_a_usage_error(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(_records(1), encoding="utf-8")
    result = _toolkit("label", source, "--format", "xml", "--model", model_file)
    assert result.returncode == 2 and "unknown format 'xml'" in _one_line_error(result)


# ---- 13. messages --------------------------------------------------------------------------------------


def test_json_error_messages_read_well(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"id": "a", "text": "cut\n{"id": ' + "9" * 5000 + ', "text": "x"}\n', encoding="utf-8")
    first, second = list(iter_records(path))
    assert first.error == "malformed JSON: Unterminated string starting at (column 21)"
    assert second.error == f"malformed JSON: a number has more than {sys.get_int_max_str_digits()} digits"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_names_the_file(model_file, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(_records(3), encoding="utf-8")
    result = _toolkit("label", source, "--output", "/dev/full", "--model", model_file)
    assert result.returncode == 1
    assert "cannot write /dev/full: No space left on device" in _one_line_error(result)
