"""How long the validation gate takes: the built-in GX suite (plus one recipe expectation) over N refined rows of
about 1 KB, with the row-wise text checks in batches, against GX evaluating the same suite over every row
(measured in the same run).

    python benchmarks/gate_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from dedup_bench import RESULTS, write_corpus

from refinery.recipe import Recipe, parse_recipe
from refinery.validate import build_suite, validate
from refinery.validate.suite import _Runner


def gx_on_every_row(refined: Path, recipe: Recipe) -> float:
    """The baseline, timed in the same run: the same expectations, every one evaluated by GX on all the rows (what
    the gate did before Polars counted the row checks), as one checkpoint over the frame in pandas."""
    suite = dict(enumerate(build_suite(recipe)))
    frame = pl.read_parquet(refined)
    started = time.perf_counter()
    _Runner("baseline").run("all", suite, frame)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    corpus = write_corpus(args.rows, RESULTS / f"corpus-{args.rows}.parquet")
    with tempfile.TemporaryDirectory() as tmp:
        refined = Path(tmp) / "refined.parquet"
        pl.scan_parquet(corpus).select(
            "doc_id",
            "text",
            "source",
            "source_id",
            "source_uri",
            n_words=pl.col("text").str.count_matches(r"\S+").cast(pl.Int64),
            lang=pl.lit("en"),
        ).sink_parquet(refined)
        (Path(tmp) / "ore.jsonl").write_text("{}\n")
        recipe = parse_recipe(
            {
                "dataset": "bench",
                "sources": [{"name": "bench", "format": "jsonl", "path": "ore.jsonl"}],
                "clean": {"pii": ["email", "phone", "ip"], "filters": {"min_words": 20, "languages": ["en"]}},
                "validate": {
                    "expectations": [
                        {
                            "expectation": "expect_column_mean_to_be_between",
                            "kwargs": {"column": "n_words", "min_value": 50},
                        }
                    ]
                },
            },
            Path(tmp),
        )
        started = time.perf_counter()
        report = validate([refined], recipe, Path(tmp) / "validation")
        seconds = time.perf_counter() - started
        baseline = gx_on_every_row(refined, recipe)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {report.rows}; expectations: {len(report.outcomes)}; passed: {report.success}")
    print(f"gate: {seconds:.1f} s ({report.rows / seconds:,.0f} rows/s), peak RSS {peak:.0f} MB (both runs)")
    print(f"baseline, GX over every row through pandas (the same suite, one checkpoint): {baseline:.1f} s")
    print(f"gate / baseline: {seconds / baseline:.2f}")


if __name__ == "__main__":
    main()
