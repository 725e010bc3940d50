"""The whole run: `refinery run` over N realistic documents (English sentences with punctuation and stop words,
most of them passing the default filters, 10% near-duplicate edits), against the plain datasketch loop doing
near-dedup alone on the same documents, measured in the same run.

    python benchmarks/run_bench.py [--docs 100000] [--no-loop]

Prints each step's seconds and documents/s (from the run's own step lines), the run's wall time from the command
to its summary, the largest peak resident memory among its processes, and the ratio to the loop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the tests' generators (refinery_tests.synth)
from dedup_bench import datasketch_loop

from refinery_tests.synth import document, near_variant

STEP = re.compile(r"✓ (\S+)\s+(?:([\d,]+) records)?\s+([\d.]+) s")


def write_ore(n: int, folder: Path, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        texts.append(near_variant(rng, rng.choice(texts)) if texts and rng.random() < 0.1 else document(rng, 9))
    folder.mkdir(parents=True)
    with open(folder / "posts.jsonl", "w") as fh:
        fh.writelines(json.dumps({"id": f"p{i}", "body": t}) + "\n" for i, t in enumerate(texts))
    return texts


def write_recipe(base: Path, name: str = "recipe") -> Path:
    """The benchmarks' recipe over the ore in `base/ore`, publishing to `base/refined-<name>`."""
    source = {"name": "posts", "format": "jsonl", "path": "ore/*.jsonl", "text_field": "body", "id_field": "id"}
    recipe = {
        "dataset": "bench",
        "output": f"refined-{name}",
        "sources": [{**source, "license": "CC0-1.0"}],
        "clean": {"filters": {"languages": ["en"]}},
    }
    path = base / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run(recipe: Path, home: Path) -> tuple[float, str]:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "refinery.cli", "run", "--recipe", str(recipe)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"refinery run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--no-loop", action="store_true", help="skip the datasketch loop (memory runs at 3M)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        texts = write_ore(args.docs, base / "ore")
        seconds, out = run(write_recipe(base), base / "home")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{args.docs} documents, about {sum(map(len, texts)) // len(texts)} bytes each")
    for step, rows, secs in STEP.findall(out):
        rate = f"{args.docs / float(secs):>10,.0f} docs/s" if float(secs) > 0 else ""
        print(f"  {step:<34} {rows or '':>10} {float(secs):7.1f} s {rate}")
    refined = re.search(r"refined\s*│\s*│\s*(\d+)", out)
    print(
        f"refinery run (command to summary): {seconds:.1f} s, {args.docs / seconds:,.0f} docs/s, "
        f"{refined.group(1) if refined else '?'} refined, largest process peak RSS {peak_mb:,.0f} MB"
    )
    if args.no_loop:
        return
    started = time.perf_counter()
    datasketch_loop(texts)
    loop = time.perf_counter() - started
    print(f"datasketch loop, near-dedup alone: {loop:.1f} s, {args.docs / loop:,.0f} docs/s")
    print(f"whole run / loop: {seconds / loop:.2f} (the goal is at most 0.33)")


if __name__ == "__main__":
    main()
