"""Benchmark `toolkit label --workers N` against `--engine dask --local N`: records/s and peak RSS.

The input is --size articles, the texts of datasets/train.jsonl and test.jsonl repeated under new
ids. Each command runs --runs times, the two alternating, each a fresh process (model loading and,
for Dask, starting the cluster included); peak RSS is the largest sum over the command's whole
process tree (workers, nannies and scheduler too), sampled every 50 ms. Prints a markdown table of
medians, the load average before and after, and checks that both outputs are identical. Needs
psutil (a dependency of distributed) and `pip install 'toolkit[dask]'`.

Usage:
  python scripts/bench_engines.py                      # 20,000 articles, 2 workers, 3 runs, fast model
  python scripts/bench_engines.py --size 2000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

_ROOT = Path(__file__).resolve().parent.parent
_SAMPLE_SECONDS = 0.05


def make_input(path: Path, size: int) -> Path:
    texts = []
    for name in ("train", "test"):
        with open(_ROOT / "datasets" / f"{name}.jsonl", encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle if line.strip()]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(size):
            handle.write(
                json.dumps({"id": f"b{i:07d}", "text": texts[i % len(texts)]}, ensure_ascii=False) + "\n"
            )
    return path


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_once(command: list[str]) -> tuple[float, int]:
    """Seconds and peak RSS (bytes, the whole process tree) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, tree_rss(watched))
        except psutil.Error:
            pass
        time.sleep(_SAMPLE_SECONDS)
    seconds = time.perf_counter() - start
    if process.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="fast")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    source = make_input(folder / "articles.jsonl", args.size)
    base = [sys.executable, "-m", "toolkit", "label", str(source), "--model", args.model, "--no-progress"]
    setups = {
        f"`--workers {args.workers}`": ["--workers", str(args.workers)],
        f"`--engine dask --local {args.workers}`": ["--engine", "dask", "--local", str(args.workers)],
    }
    load_before = os.getloadavg()
    outputs = {name: folder / f"out-{number}.jsonl" for number, name in enumerate(setups)}
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in setups}
    for _ in range(args.runs):  # interleaved, so a change in the machine's load hits both alike
        for name, extra in setups.items():
            runs[name].append(run_once([*base, *extra, "--output", str(outputs[name])]))
    rows = []
    for name, measured in runs.items():
        seconds = statistics.median(s for s, _ in measured)
        peak = statistics.median(p for _, p in measured)
        rows.append(f"| {name} | {seconds:.1f} | {args.size / seconds:.0f} | {peak / 2**20:.0f} |")
    load_after = os.getloadavg()
    print(f"{args.size:,} articles, model {args.model}, medians of {args.runs} fresh processes\n")
    print("| command | seconds | records/s | peak RSS, all processes (MB) |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))
    print(
        f"\nload average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"after: {', '.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} cores"
    )
    print("outputs identical:", len({path.read_bytes() for path in outputs.values()}) == 1)


if __name__ == "__main__":
    main()
