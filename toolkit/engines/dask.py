"""The Dask engine: `toolkit label --engine dask`, and Dask collections labelled in one call.

`toolkit label --engine dask` runs the same checked job as `toolkit label`
(:func:`~toolkit.labelling.plan_label_job`): this process reads the input with
the toolkit's own record parser, so line numbers, error records and the
duplicate-id check are exactly those of a plain run, and cuts it into
numbered partitions of whole batches. The workers label the partitions (the
model is sent to each worker once) and this process writes each result as a
part file next to the output; once every part is there they are joined in
input order. Workers need the toolkit installed, not the input or output
files. A partition whose worker dies is run again by Dask; one that raises is
retried; a finished part is never labelled again, even by ``--resume``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from toolkit.engines.frames import empty_frame, label_frame, label_items
from toolkit.errors import ToolkitError, UsageError, optional_module
from toolkit.io.parts import PartFiles, partitions
from toolkit.labelling import (
    LabelJob,
    LabelPlan,
    OutputError,
    _check_resumable,
    _locked_output,
    _serialised_batch,
    _Settings,
    _sync,
    _write,
    _write_run_record,
    plan_label_job,
    run_record_path,
)
from toolkit.limits import MAX_WORKERS

if TYPE_CHECKING:
    import dask.bag
    import dask.dataframe
    from distributed import Client, LocalCluster

    from toolkit.classifier import TopicClassifier
    from toolkit.io import Record

ENGINES = ("dask",)
_DEFAULT_BATCH_SIZE = 64
_DEFAULT_PARTITION_BATCHES = 8  # 512 records of 64: a few seconds of work, little lost to a dead worker
_IN_FLIGHT_PER_THREAD = 2
_RETRIES = 2  # a partition that raises is run up to three times (a dead worker is Dask's own matter)
_LOOPBACK = "127.0.0.1"
_CONNECT_TIMEOUT = "30s"
_WORKER_WAIT_SECONDS = 120
_DASK_HINT = "the Dask engine needs dask and distributed: pip install 'toolkit[dask]'"
_DATAFRAME_HINT = "Dask data frames need dask[dataframe]: pip install 'dask[dataframe]'"

_worker_ready = False


def check_engine_options(
    engine: str | None, scheduler: str | None, local: int | None, workers: int, output: Path | None
) -> None:
    """Refuse engine options that cannot go together, in one line (a usage error)."""
    if engine is None:
        if scheduler is not None or local is not None:
            raise UsageError("--scheduler and --local choose where --engine dask runs: add --engine dask")
        return
    if engine not in ENGINES:
        raise UsageError(
            f"unknown engine {engine!r}: use {', '.join(ENGINES)} (Spark and Ray: see the README's recipes)"
        )
    if scheduler is not None and local is not None:
        raise UsageError("--scheduler and --local cannot go together: a job runs on one cluster")
    if workers != 1:
        raise UsageError("--workers is the toolkit's own process pool: with --engine dask use --local N")
    if output is None:
        raise UsageError("--engine dask needs --output FILE (its parts are written next to it)")
    if local is not None and not 1 <= local <= MAX_WORKERS:
        raise UsageError(f"--local must be between 1 and {MAX_WORKERS}")


def label_file_on_dask(
    model: TopicClassifier,
    input: str | Path,
    output: str | Path | None,
    *,
    scheduler: str | None = None,
    local: int | None = None,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    partition_batches: int = _DEFAULT_PARTITION_BATCHES,
    resume: bool = False,
    job: LabelJob | None = None,
    on_progress: Callable[[int], None] | None = None,
    **options: Any,
) -> dict[str, int]:
    """Run a :func:`~toolkit.labelling.label_file` job on Dask: the same output, byte for byte.

    ``scheduler`` is the address of a running Dask scheduler; without one, a
    cluster of ``local`` worker processes (default: one per core) is started
    on 127.0.0.1 for the job. ``options`` are :func:`~toolkit.labelling.plan_label_job`'s
    (format, fields, evidence, delimiter, output format, kept fields). Parts
    go to ``OUTPUT.parts/`` and are removed once joined into ``output``.
    """
    job = job or LabelJob()
    if not isinstance(partition_batches, int) or partition_batches < 1:
        raise UsageError("partition_batches must be a positive integer")
    check_engine_options("dask", scheduler, local, 1, None if output is None else Path(output))
    _distributed()  # a missing install fails before anything is opened
    plan = plan_label_job(model, input, output, batch_size=batch_size, resume=resume, **options)
    size = batch_size * partition_batches
    plan.run["options"]["engine"] = {"name": "dask", "partition_records": size}
    parts, spool = PartFiles(plan.output), plan.writer.spool(plan.output)
    with _locked_output(spool) as stream:
        finished = _start_or_resume(plan, parts, resume, stream)
        with _client(scheduler, local) as client:
            counts, total = _label_partitions(
                client, model, plan, parts, finished, size, batch_size, job, on_progress
            )
        _join(plan, parts, total, stream)
        plan.writer.finish(spool, plan.output)
    parts.clear()
    counts["maybe_duplicate"] = plan.records.maybe_repeated
    job.counts = counts
    return counts


def local_cluster(workers: int | None = None) -> LocalCluster:
    """A Dask cluster of ``workers`` processes on this machine (default: one per core), one thread each.

    It listens on 127.0.0.1 only. Dask's worker launcher sets
    ``MALLOC_TRIM_THRESHOLD_`` (memory handed back to the system eagerly),
    which made labelling about 25% slower per record here; it is left unset
    (the C library's default) unless this process's environment sets it.
    """
    dask, distributed = _dask(), _distributed()
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ") or {})
    environ["MALLOC_TRIM_THRESHOLD_"] = None
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return distributed.LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host=_LOOPBACK,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )


def label_bag(
    bag: dask.bag.Bag,
    model: TopicClassifier,
    *,
    id_field: str = "id",
    text_field: str = "text",
    batch_size: int = _DEFAULT_BATCH_SIZE,
    evidence: bool = False,
    keep: Sequence[str] = (),
    keep_all: bool = False,
) -> dask.bag.Bag:
    """A bag of `toolkit label`'s output records, one per item of ``bag`` (dicts or JSON lines), in order.

    The model travels once per worker (one task holding it), not with every
    partition. See :func:`~toolkit.engines.frames.label_items` for the rules.
    """
    shipped = _shipped(model)
    return bag.map_partitions(
        _label_bag_partition,
        shipped,
        id_field=id_field,
        text_field=text_field,
        batch_size=batch_size,
        evidence=evidence,
        keep=tuple(keep),
        keep_all=keep_all,
    )


def label_dataframe(
    df: dask.dataframe.DataFrame,
    model: TopicClassifier,
    *,
    text_column: str = "text",
    id_column: str | None = "id",
    batch_size: int = _DEFAULT_BATCH_SIZE,
    evidence: bool = False,
    keep: Sequence[str] = (),
) -> dask.dataframe.DataFrame:
    """A Dask frame of labels, one row per row of ``df`` with its index (see :func:`label_frame`)."""
    _dask_dataframe()
    import pandas as pd

    from toolkit.io import kept_name

    for name in (text_column, id_column, *keep):
        if name is not None and name not in df.columns:
            raise ToolkitError(f"the frame has no column {name!r}")
    copies = pd.DataFrame({kept_name(name): pd.Series(dtype=df.dtypes[name]) for name in keep})
    meta = pd.concat([empty_frame(model, evidence), copies], axis=1)
    return df.map_partitions(
        _label_frame_partition,
        _shipped(model),
        text_column=text_column,
        id_column=id_column,
        batch_size=batch_size,
        evidence=evidence,
        keep=tuple(keep),
        meta=meta,
    )


def _start_or_resume(plan: LabelPlan, parts: PartFiles, resume: bool, stream: IO[str]) -> set[int]:
    """Start afresh (no parts, empty output, a new run record) or check a resumed run; the finished parts."""
    output, record_path = plan.output, run_record_path(plan.output)
    spool = plan.writer.spool(output)
    if resume and parts.folder.is_dir():
        _check_resumable(output, record_path, plan.run)
        if plan.run["input"]["sha256"] is None:
            raise UsageError(
                f"cannot resume {output}: the input is not a regular file, so its parts cannot be checked "
                "against it; label again without --resume"
            )
        return parts.finished()
    if resume and (spool.stat().st_size > 0 or (spool != output and output.exists())):
        _check_resumable(output, record_path, plan.run)  # another run's file: say that first
        raise UsageError(
            f"cannot resume {output}: its run finished ({parts.folder.name}, the parts of a run under way, "
            "is gone); label again without --resume"
        )
    parts.clear()
    stream.truncate(0)
    if spool != output:
        output.unlink(missing_ok=True)
    _write_run_record(record_path, plan.run)
    return set()


def _label_partitions(
    client: Client,
    model: TopicClassifier,
    plan: LabelPlan,
    parts: PartFiles,
    finished: set[int],
    size: int,
    batch_size: int,
    job: LabelJob,
    on_progress: Callable[[int], None] | None,
) -> tuple[dict[str, int], int]:
    """Label the unfinished partitions on the cluster, a bounded number at a time; counts and partitions."""
    from distributed import as_completed

    settings = _Settings(plan.run["options"]["evidence"], plan.keep, plan.writer)
    shipped = [client.scatter(model, broadcast=True, hash=False)]
    window = _IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values()))
    counts = {"ok": 0, "error": 0, "skipped": 0}
    running, started = as_completed(loop=client.loop), {}  # this client's loop, not the default's
    resubmitted: dict[int, int] = {}

    def submit(index: int, records: list) -> None:
        future = client.submit(
            _label_partition, shipped[0], records, batch_size, settings, retries=_RETRIES, pure=False
        )
        started[future] = index, records
        running.add(future)

    def advance(records: int) -> None:
        job.track(job.done + records)
        if on_progress is not None:
            on_progress(job.done)

    def collect(future: Any) -> None:
        index, records = started.pop(future)
        if future.status == "cancelled" and resubmitted.get(index, 0) < _RETRIES:
            # the scheduler dropped it, e.g. when a killed worker took the scattered model with it:
            # ship the model again and run the partition anew
            resubmitted[index] = resubmitted.get(index, 0) + 1
            shipped[0] = client.scatter(model, broadcast=True, hash=False)
            submit(index, records)
            return
        text, ok, errors = _result(future, index, records[0].line, job.done)
        parts.write(index, text)
        counts["ok"] += ok
        counts["error"] += errors
        advance(ok + errors)

    total = 0
    for index, records in partitions(plan.records, size):
        total = index + 1
        if index in finished:
            counts["skipped"] += len(records)
            advance(len(records))
            continue
        submit(index, records)
        while running.count() >= window:
            collect(next(running))
    for future in running:
        collect(future)
    return counts, total


def _result(future: Any, index: int, first_line: int | None, done: int) -> tuple[str, int, int]:
    """A finished partition's result; a partition that failed for good fails the job in one line."""
    try:
        return future.result()
    except ToolkitError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()
        raise ToolkitError(
            f"partition {index} (from line {first_line}) failed on the Dask cluster: {type(exc).__name__}"
            f"{': ' + reason[0] if reason else ''}; the {done} records in finished parts are kept: "
            "rerun with --resume"
        ) from None


def _join(plan: LabelPlan, parts: PartFiles, total: int, stream: IO[str]) -> None:
    """Write the output afresh: the header, then every part in input order, synced."""
    stream.truncate(0)
    _write(stream, plan.writer.header())
    try:
        parts.join(total, stream)
        stream.flush()
        _sync(stream)
    except FileNotFoundError as exc:
        raise ToolkitError(
            f"part {Path(exc.filename).name} vanished from {parts.folder}: label again without --resume"
        ) from None
    except OSError as exc:
        raise OutputError(
            f"cannot write {plan.output}: {exc.strerror or exc}; parts kept: free space, then --resume"
        ) from None


@contextlib.contextmanager
def _client(scheduler: str | None, local: int | None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a local cluster started (and stopped) for the job."""
    distributed = _distributed()
    cluster = None
    if scheduler is None:
        cluster = local_cluster(local)
        client = distributed.Client(cluster, set_as_default=False)
    else:
        try:
            client = distributed.Client(scheduler, timeout=_CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise ToolkitError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=_WORKER_WAIT_SECONDS)
        except TimeoutError:
            raise ToolkitError(
                f"the Dask scheduler at {scheduler} has had no worker for {_WORKER_WAIT_SECONDS} s: "
                "start some (dask worker ADDRESS), then --resume"
            ) from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _label_partition(
    model: TopicClassifier, records: list[Record], batch_size: int, settings: _Settings
) -> tuple[str, int, int]:
    """(On a worker.) One partition labelled batch by batch, as a plain run cuts it: text and counts."""
    _one_thread()
    pieces, ok, errors = [], 0, 0
    for start in range(0, len(records), batch_size):
        text, good, bad = _serialised_batch(model, records[start : start + batch_size], settings)
        pieces.append(text)
        ok, errors = ok + good, errors + bad
    return "".join(pieces), ok, errors


def _label_bag_partition(items: Iterable, model: TopicClassifier, **options: Any) -> list[dict]:
    _one_thread()
    return label_items(model, list(items), **options)


def _label_frame_partition(frame: Any, model: TopicClassifier, **options: Any) -> Any:
    _one_thread()
    return label_frame(model, frame, **options)


def _one_thread() -> None:
    """Keep this worker's BLAS on one thread (Dask runs one task per worker thread), once per process."""
    global _worker_ready
    if not _worker_ready:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        _worker_ready = True


def _shipped(model: TopicClassifier) -> Any:
    """The model as one task of the graph: each worker fetches it once and keeps it for every partition."""
    dask = _dask()
    from toolkit.labelling import model_fingerprint

    return dask.delayed(model, name=f"toolkit-model-{model_fingerprint(model)}-{id(model):x}")


def _dask() -> Any:
    return optional_module("dask", _DASK_HINT)


def _distributed() -> Any:
    return optional_module("distributed", _DASK_HINT)


def _dask_dataframe() -> Any:
    _dask()  # without dask at all, the hint to install the dask extra
    return optional_module("dask.dataframe", _DATAFRAME_HINT)
