"""Does one long token stall the validation gate? The built-in suite (PII patterns included) over 1,000 refined
rows plus one document holding a token of L characters (a base64 blob, or one long word, in non-ASCII text).

The baseline, measured in the same run, is the same rows without the long document; each line prints its time
against it. A search that is quadratic in L would add ~100x more time at 10M characters than at 1M (the e-mail
pattern once took 7 s for 40k characters); linear, the time added stays within the noise of GX's fixed cost.

    python benchmarks/gate_tokens_bench.py [--sizes 1000000 2000000 5000000 10000000]
"""

from __future__ import annotations

import argparse
import base64
import random
import tempfile
import time
from pathlib import Path

import polars as pl

from refinery.recipe import parse_recipe
from refinery.validate import validate

ROWS = 1_000


def _refined(path: Path, extra: list[str]) -> Path:
    rng = random.Random(0)
    words = ["déjà", "river", "stone", "light", "market", "quiet", "north", "paper", "glass", "window"]
    texts = [" ".join(rng.choice(words) for _ in range(150)) for _ in range(ROWS)] + extra
    n = len(texts)
    pl.DataFrame(
        {
            "doc_id": [f"{i:016x}" for i in range(n)],
            "text": texts,
            "source": ["s"] * n,
            "source_id": [str(i) for i in range(n)],
            "source_uri": ["bench.jsonl"] * n,
            "n_words": [len(t.split()) for t in texts],
            "lang": ["en"] * n,
        }
    ).write_parquet(path)
    return path


def _seconds(folder: Path, extra: list[str]) -> float:
    (folder / "ore.jsonl").write_text("{}\n")
    recipe = parse_recipe(
        {
            "dataset": "tokens",
            "sources": [{"name": "bench", "format": "jsonl", "path": "ore.jsonl"}],
            "clean": {"pii": ["email", "phone", "ip", "national_id"], "filters": {"min_words": 1, "max_words": None}},
        },
        folder,
    )
    refined = _refined(folder / "refined.parquet", extra)
    started = time.perf_counter()
    report = validate([refined], recipe)
    seconds = time.perf_counter() - started
    assert report.success, [o for o in report.outcomes if not o.success]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000, 5_000_000, 10_000_000])
    args = parser.parse_args()
    tokens = {
        "base64": lambda n: base64.b64encode(random.Random(n).randbytes(n * 3 // 4)).decode(),
        "word": lambda n: "a" * n,
    }
    with tempfile.TemporaryDirectory() as tmp:
        _seconds(Path(tmp), [])  # warm-up: imports and GX's first context
        base = _seconds(Path(tmp), [])
        print(f"baseline: {ROWS} rows without the long document: {base:.2f} s")
        print(f"{'token':8} {'characters':>12} {'seconds':>8} {'added':>7} {'vs baseline':>11}")
        for kind, make in tokens.items():
            for size in sorted(args.sizes):
                seconds = _seconds(Path(tmp), [f"déjà vu {make(size)} end"])
                print(f"{kind:8} {size:>12,} {seconds:>8.2f} {seconds - base:>7.2f} {seconds / base:>11.2f}")


if __name__ == "__main__":
    main()
