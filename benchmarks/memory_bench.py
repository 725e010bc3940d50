"""Memory as documents grow: `refinery run` over the same realistic corpus (run_bench's) at several sizes, with
the peak resident memory of the run's process, of its largest worker (the isolated dedup stage, the ingest and
cleaning processes) and of all of them at once, each against the smallest size measured in the same run.

    python benchmarks/memory_bench.py [--docs 1000000 3000000]

The goal (issue: the whole run as fast as its fastest stage) is the larger size within 20% of the smaller.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from engine_bench import PeakMemory
from run_bench import run, write_ore, write_recipe


def measure(n: int) -> tuple[float, dict[str, int]]:
    """Seconds and peak RSS (bytes) of one run over `n` documents."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_ore(n, base / "ore")
        recipe = write_recipe(base)
        monitor = PeakMemory()
        monitor.start()
        seconds, _ = run(recipe, base / "home")
        monitor.stop()
    workers = [rss for what, rss in monitor.peaks.items() if what != "driver"]
    return seconds, {"run": monitor.peaks["driver"], "largest worker": max(workers, default=0), "all": monitor.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 3_000_000])
    args = parser.parse_args()
    results = {n: measure(n) for n in sorted(args.docs)}
    base = results[min(results)][1]
    print("documents     seconds   run process   largest worker   all at once   largest process vs the smallest size")
    for n, (seconds, peaks) in results.items():
        mb = {k: v / 2**20 for k, v in peaks.items()}
        largest = max(peaks["run"], peaks["largest worker"]) / max(base["run"], base["largest worker"])
        print(
            f"{n:>9,}  {seconds:9.1f}  {mb['run']:9,.0f} MB  {mb['largest worker']:12,.0f} MB"
            f"  {mb['all']:9,.0f} MB   {largest:.2f} (all at once: {peaks['all'] / base['all']:.2f})"
        )


if __name__ == "__main__":
    main()
