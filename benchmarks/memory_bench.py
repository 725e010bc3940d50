"""Memory as documents grow: `refinery run` over the same realistic corpus (run_bench's) at several sizes, with
the peak resident memory of the run's process, of its largest worker (the isolated dedup stage, the ingest and
cleaning processes) and of all of them at once, each against the smallest size measured in the same run; and
near dedup's candidate pairs and verified pairs (edges) per document, from the version's manifest.

    python benchmarks/memory_bench.py [--docs 1000000 3000000]

The goal (issue: the whole run as fast as its fastest stage) is the larger size within 20% of the smaller.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine_bench import PeakMemory
from run_bench import run, write_ore, write_recipe


def measure(n: int) -> tuple[float, dict[str, int], dict]:
    """Seconds, peak RSS (bytes) and dedup's figures of one run over `n` documents."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_ore(n, base / "ore")
        recipe = write_recipe(base)
        monitor = PeakMemory()
        monitor.start()
        seconds, _ = run(recipe, base / "home")
        monitor.stop()
        (manifest,) = base.glob("**/manifest.json")
        dedup = json.loads(manifest.read_text())["stages"]["dedup"]
    workers = [rss for what, rss in monitor.peaks.items() if what != "driver"]
    peaks = {"run": monitor.peaks["driver"], "largest worker": max(workers, default=0), "all": monitor.total}
    return seconds, peaks, dedup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 3_000_000])
    args = parser.parse_args()
    print(
        "documents     seconds   run process   largest worker   all at once   largest process vs the smallest size"
        "   candidate pairs / verified pairs per document",
        flush=True,
    )
    base: dict[str, int] = {}
    for n in sorted(args.docs):  # a row as each size is measured: the largest takes longest
        seconds, peaks, dedup = measure(n)
        base = base or peaks
        mb = {k: v / 2**20 for k, v in peaks.items()}
        largest = max(peaks["run"], peaks["largest worker"]) / max(base["run"], base["largest worker"])
        print(
            f"{n:>9,}  {seconds:9.1f}  {mb['run']:9,.0f} MB  {mb['largest worker']:12,.0f} MB"
            f"  {mb['all']:9,.0f} MB   {largest:.2f} (all at once: {peaks['all'] / base['all']:.2f})"
            f"   {dedup.get('candidate_pairs', 0) / n:.3f} / {dedup.get('verified_pairs', 0) / n:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
