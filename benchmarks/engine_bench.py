"""The same recipe on the local engine and on a two-node local Ray cluster (one CPU a node), side by side:
wall time, and the peak resident memory of the driver and of the largest Ray worker.

    python benchmarks/engine_bench.py [--docs 200000]

Two cores cannot show a speed-up; the point is what the cluster path costs on top of the work, and that a Ray
worker's memory is a shard's, not the corpus's. Both runs must give the same content hash.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from run_bench import write_ore, write_recipe

from refinery.catalog import Catalog


def kind(proc: psutil.Process) -> str:
    command = " ".join(proc.cmdline())
    if proc.name().startswith("ray::"):
        return "ray worker"
    if "multiprocessing.spawn" in command:
        return "local worker"
    return "driver" if "refinery" in command else "ray services"


def high_water_mark(pid: int) -> int:
    """The process's own peak resident memory as the kernel keeps it (VmHWM, bytes): no sampling can miss a
    spike of it. A process that has exited but not been reaped has no memory left to report: 0."""
    found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) * 1024 if found else 0


class PeakMemory(threading.Thread):
    """Reads every descendant of this process every 50 ms: the largest kernel high-water mark (VmHWM) per kind
    of process, and the largest sum of current RSS over all of them at once (`total`: sampled, so a short
    simultaneous peak can slip between two reads)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[str, int] = {}
        self.total = 0
        self.running = True

    def run(self) -> None:
        me = psutil.Process()
        while self.running:
            now = 0
            for proc in me.children(recursive=True):
                try:
                    what, rss, peak = kind(proc), proc.memory_info().rss, high_water_mark(proc.pid)
                except (psutil.Error, OSError):
                    continue
                self.peaks[what] = max(self.peaks.get(what, 0), peak)
                now += rss
            self.total = max(self.total, now)
            time.sleep(0.05)

    def stop(self) -> None:
        self.running = False
        self.join()


def refine(recipe: Path, home: Path, *engine: str) -> tuple[float, dict[str, int], dict]:
    monitor = PeakMemory()
    monitor.start()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "refinery.cli", "run", "--recipe", str(recipe), *engine],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    monitor.stop()
    manifest = Catalog(recipe.parent / yaml.safe_load(recipe.read_text())["output"]).version("bench").manifest
    return seconds, monitor.peaks, manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        write_ore(args.docs, base / "ore")
        results = {}
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        try:
            for name, engine in (("local", ["--engine", "local"]), ("ray", ["--ray-address", cluster.address])):
                recipe = write_recipe(base, name)
                results[name] = refine(recipe, base / f"home-{name}", *engine)
        finally:
            cluster.shutdown()
    print(f"{args.docs:,} documents; the Ray cluster: 2 nodes of 1 CPU on this machine")
    for name, (seconds, peaks, manifest) in results.items():
        memory = ", ".join(f"{kind} {rss / 2**20:,.0f} MB" for kind, rss in sorted(peaks.items()))
        stages = manifest["stages"]["engine"]
        tasks = {stage: e["tasks"] for stage, e in stages.items()}
        moved = sum(e.get("bytes_moved", 0) for e in stages.values()) / 2**20
        shuffled = manifest["stages"]["dedup"]["band_bytes_shuffled"] / 2**20
        print(
            f"  {name:5}  {seconds:6.1f} s  {args.docs / seconds:8,.0f} docs/s  peak (VmHWM): {memory}  tasks {tasks}  "
            f"frames sent to and from tasks (Polars' estimated size, not measured in the object store): "
            f"{moved:,.0f} MB  band keys shuffled (file bytes): {shuffled:,.0f} MB"
        )
    same = results["local"][2]["content_hash"] == results["ray"][2]["content_hash"]
    print(f"ray / local wall time: {results['ray'][0] / results['local'][0]:.2f}; same content hash: {same}")


if __name__ == "__main__":
    main()
