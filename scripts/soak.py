"""Soak test: label many generated records, 1% of them malformed, and check nothing is lost.

Reports records in, records out, ok and error records, wall time and peak RSS
(the labelling process and its workers, the largest of them). With --tiny the
records are one short sentence each, so a million of them run in minutes and
show whether memory grows with the number of records.

Usage: python scripts/soak.py [--records 100000] [--bad-share 0.01] [--workers 2] [--model fast] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, n: int, bad_share: float, seed: int = 0, tiny: bool = False) -> tuple[int, int]:
    """Write ``n`` JSONL records, about ``bad_share`` of them malformed; return (records, malformed)."""
    rng = random.Random(seed)
    texts = []
    for name in ("train", "test"):
        with open(_ROOT / "datasets" / f"{name}.jsonl", encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle]
    if tiny:
        texts = [text.split(".")[0][:120] + "." for text in texts]
    broken = [
        lambda i: b'{"id": "r%d", "text": "unterminated\n' % i,
        lambda i: b'["not", "an", "object"]\n',
        lambda i: b'{"id": "r%d"}\n' % i,
        lambda i: b'{"id": "r%d", "text": 42}\n' % i,
        lambda i: b'{"id": "r%d", "text": "bad byte \xff here"}\n' % i,
        lambda i: b'{"text": "no id at all"}\n',
    ]
    bad = 0
    with open(path, "wb") as handle:
        for i in range(n):
            if rng.random() < bad_share:
                handle.write(rng.choice(broken)(i))
                bad += 1
            else:
                record = {"id": f"r{i}", "text": rng.choice(texts)}
                handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    return n, bad


def main(argv: list[str] | None = None) -> int:
    """Generate, label, verify, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--bad-share", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=str(_ROOT / "models" / "default.safetensors"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tiny", action="store_true", help="one short sentence per record")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
        n, bad = generate(source, args.records, args.bad_share, tiny=args.tiny)
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "toolkit",
                "label",
                str(source),
                "--output",
                str(out),
                "--model",
                str(args.model),
                "--workers",
                str(args.workers),
                "--batch-size",
                str(args.batch_size),
            ],
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        counts = {"ok": 0, "error": 0}
        ids_in_order = True
        with open(out, encoding="utf-8") as handle:
            for position, line in enumerate(handle):
                record = json.loads(line)
                counts[record["status"]] += 1
                if record["status"] == "ok" and record["id"] != f"r{position}":
                    ids_in_order = False
        out_count = counts["ok"] + counts["error"]
    exit_code = os.waitstatus_to_exitcode(status)
    print(
        "| records in | records out | ok | errors (malformed written) | exit code | wall (s) | records/s "
        "| peak RSS (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {n} | {out_count} | {counts['ok']} | {counts['error']} ({bad}) | {exit_code} | {wall:.0f} | "
        f"{n / wall:.0f} | {usage.ru_maxrss / 1024:.0f} |"
    )
    healthy = out_count == n and counts["error"] == bad and ids_in_order and exit_code == (3 if bad else 0)
    print("verdict:", "nothing lost, one record out per record in, in order" if healthy else "PROBLEM")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
