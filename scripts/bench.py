"""Benchmark the toolkit: throughput per stage and end to end, cold start, training, memory.

Articles of realistic length (3-5 KB) are assembled from the corpus in
datasets/ (paragraphs of several documents, some wrapped in site chrome).
Every figure is the median of --runs runs. Prints markdown tables.

Usage:
  python scripts/bench.py                       # default (e5) and fast (static) tiers
  python scripts/bench.py --sizes 1000 --runs 3 --tiers fast,transformer
The default tier (models/default.safetensors, multilingual-e5-small) is measured on
--default-size articles (it reads a few articles a second); the fast tier
(models/fast.safetensors) on --sizes.
The transformer tier needs a model trained with `--encoder all-MiniLM-L6-v2`;
pass it with --transformer-model (it is trained into a temp folder otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))
sys.path.insert(0, str(_ROOT / "scripts"))


def make_articles(n: int, seed: int = 0) -> list[dict]:
    """``n`` records of 3-5 KB built from corpus paragraphs, about a third wrapped in chrome."""
    from build_dataset import load_chrome, wrap

    rng = random.Random(seed)
    docs = []
    for name in ("train", "test"):
        with open(_ROOT / "datasets" / f"{name}.jsonl", encoding="utf-8") as handle:
            docs += [json.loads(line) for line in handle]
    chrome = load_chrome(_ROOT / "datasets" / "chrome")
    records = []
    for i in range(n):
        first = rng.choice(docs)
        text, target = first["text"], rng.randint(3000, 5000)
        while len(text.encode("utf-8")) < target:
            text += "\n\n" + "\n\n".join(rng.choice(docs)["text"].split("\n\n")[1:])
        text = text.encode("utf-8")[:target].decode("utf-8", "ignore")
        if rng.random() < 0.33:
            text, _ = wrap(text, first["language"], chrome, rng)
        records.append({"id": f"a{i}", "text": text})
    return records


def write_jsonl(records: list[dict], path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def run_child(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command.

    The RSS comes from GNU time, which starts the command from its own small
    process: Linux keeps a forked child's high-water mark across exec, so a
    child forked from this (large) benchmark process would report our memory.
    """
    timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
    started = time.perf_counter()
    result = subprocess.run(timer + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"command failed ({result.returncode}): {' '.join(args)}\n{result.stderr.decode()[-2000:]}"
        )
    last = result.stderr.decode().strip().splitlines()[-1] if timer else "0"
    return wall, int(last) / 1024 if last.isdigit() else float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values)


def stage_rates(model_path: Path, records: list[dict], runs: int) -> dict[str, float]:
    """Articles per second for each stage, in this process (one core)."""
    from toolkit.classifier import TopicClassifier
    from toolkit.cleaning import clean
    from toolkit.language import detect_documents

    model = TopicClassifier.load(model_path)
    texts = [r["text"] for r in records]
    model.score_bodies(texts[:2])  # load the encoder and detector before timing
    detect_documents([clean(texts[0])])
    rates: dict[str, list[float]] = {
        "clean": [],
        "detect": [],
        "features (embed + n-grams)": [],
        "score": [],
        "all stages": [],
    }
    for _ in range(runs):
        started = time.perf_counter()
        cleaned = [clean(text) for text in texts]
        t_clean = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(0, len(cleaned), 64):  # the batch size `toolkit label` uses
            detect_documents(cleaned[start : start + 64])
        t_detect = time.perf_counter() - started
        bodies = [result.body or text for result, text in zip(cleaned, texts, strict=True)]
        started = time.perf_counter()
        features = model._featurize(bodies, model.encoder_)
        t_features = time.perf_counter() - started
        started = time.perf_counter()  # the heads alone, on the features just made
        model._scores(features, model.chars_, (model.coef_, model.intercept_), model._unit_heads())
        t_score = max(time.perf_counter() - started, 1e-9)
        n = len(texts)
        for name, seconds in (
            ("clean", t_clean),
            ("detect", t_detect),
            ("features (embed + n-grams)", t_features),
            ("score", t_score),
            ("all stages", t_clean + t_detect + t_features + t_score),
        ):
            rates[name].append(n / seconds)
    return {name: median(values) for name, values in rates.items()}


def end_to_end(
    model_path: Path, data: Path, n: int, runs: int, workers: int, extra: tuple[str, ...] = ()
) -> tuple[float, float]:
    """Median articles/s and peak RSS of `toolkit label` on ``data`` (``extra``: more options)."""
    rates, peaks = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            wall, peak = run_child(
                [
                    sys.executable,
                    "-m",
                    "toolkit",
                    "label",
                    str(data),
                    "--output",
                    str(Path(folder) / "out.jsonl"),
                    "--model",
                    str(model_path),
                    "--workers",
                    str(workers),
                    *extra,
                ]
            )
            rates.append(n / wall)
            peaks.append(peak)
    return median(rates), max(peaks)


def cold_start(model_path: Path, article: Path, runs: int) -> dict[str, float]:
    """Median wall seconds of `toolkit --help` and `toolkit classify` in fresh processes."""
    times = {"toolkit --help": [], "toolkit classify one article": []}
    for _ in range(runs):
        times["toolkit --help"].append(run_child([sys.executable, "-m", "toolkit", "--help"])[0])
        times["toolkit classify one article"].append(
            run_child(
                [sys.executable, "-m", "toolkit", "classify", str(article), "--model", str(model_path)]
            )[0]
        )
    return {name: median(values) for name, values in times.items()}


def train_times(encoder: str | None, runs: int) -> tuple[float, float]:
    """Wall seconds of a first `toolkit train` (empty cache) and of a second one on unchanged data."""
    firsts, seconds = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            env = dict(os.environ, TOOLKIT_CACHE_DIR=str(Path(folder) / "cache"))
            args = [
                sys.executable,
                "-m",
                "toolkit",
                "train",
                "--out",
                str(Path(folder) / "m.safetensors"),
                "--force",
            ]
            args += ["--encoder", encoder] if encoder else []
            firsts.append(run_child(args, env)[0])
            seconds.append(run_child(args, env)[0])
    return median(firsts), median(seconds)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print markdown tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiers", default="default,fast")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--model", type=Path, default=_ROOT / "models" / "default.safetensors")
    parser.add_argument("--fast-model", type=Path, default=_ROOT / "models" / "fast.safetensors")
    parser.add_argument("--default-size", type=int, default=100, help="articles for the (slow) default tier")
    parser.add_argument("--transformer-model", type=Path, default=None)
    parser.add_argument(
        "--transformer-size", type=int, default=300, help="articles for the (slow) transformer tier"
    )
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument(
        "--evidence",
        action="store_true",
        help="also time `label --evidence` (runs interleaved with plain ones)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    tiers = args.tiers.split(",")
    work = Path(tempfile.mkdtemp(prefix="toolkit-bench-"))
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; medians of {args.runs} runs\n")
    models = {"default": args.model, "fast": args.fast_model}
    small = {"default": args.default_size, "transformer": args.transformer_size}
    if "transformer" in tiers:
        models["transformer"] = args.transformer_model or work / "transformer.safetensors"
        if args.transformer_model is None:
            run_child(
                [
                    sys.executable,
                    "-m",
                    "toolkit",
                    "train",
                    "--encoder",
                    "all-MiniLM-L6-v2",
                    "--out",
                    str(models["transformer"]),
                ]
            )

    print("| tier | N | stage | articles/s |\n|---|---|---|---|")
    for tier in tiers:
        n = min(1000, small.get(tier, 1000))
        for stage, rate in stage_rates(models[tier], make_articles(n, seed=1), args.runs).items():
            print(f"| {tier} | {n} | {stage} | {rate:.0f} |")

    print(
        "\n| tier | N | workers | `toolkit label` articles/s | ms per article | peak RSS (MB) |\n"
        "|---|---|---|---|---|---|"
    )
    for tier in tiers:
        for n in [small[tier]] if tier in small else sizes:
            data = write_jsonl(make_articles(n, seed=2), work / f"articles-{n}.jsonl")
            for w in workers:
                rate, peak = end_to_end(models[tier], data, n, args.runs, w)
                print(f"| {tier} | {n} | {w} | {rate:.0f} | {1000 / rate:.2f} | {peak:.0f} |")
                if args.evidence:
                    slow, peak = end_to_end(models[tier], data, n, args.runs, w, ("--evidence",))
                    print(
                        f"| {tier} --evidence | {n} | {w} | {slow:.0f} | {1000 / slow:.2f} | {peak:.0f} |"
                        f" ({rate / slow - 1:+.0%} time)"
                    )

    article = work / "article.txt"
    article.write_text(make_articles(1, seed=3)[0]["text"], encoding="utf-8")
    print("\n| tier | command | cold wall time (s) |\n|---|---|---|")
    for tier in tiers:
        for name, seconds in cold_start(models[tier], article, max(args.runs, 5)).items():
            print(f"| {tier} | `{name}` | {seconds:.2f} |")

    if not args.skip_train:
        print(
            "\n| tier | first `toolkit train` (s) | second, unchanged data (s) | ratio |\n|---|---|---|---|"
        )
        for tier in tiers:
            encoder = {"transformer": "all-MiniLM-L6-v2", "fast": "static-minilm"}.get(tier)
            first, second = train_times(encoder, 1 if tier in small else args.runs)
            print(f"| {tier} | {first:.1f} | {second:.1f} | {second / first:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
