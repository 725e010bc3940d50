"""Near-duplicate removal: Refinery's dedup stage against the plain datasketch loop, on the same labelled
documents with the same parameters, measured in the same run.

    python benchmarks/dedup_bench.py                         # accuracy and speed, 20k documents
    python benchmarks/dedup_bench.py --scale 1000000 3000000 # + throughput and peak memory at scale

The baseline is what most pipelines run, configured with care: per document, normalize and shingle in Python,
`MinHash.update_batch` with xxhash, `MinHashLSH.insert` with refinery's LSH weights, then `query` for every
document and a union-find over the answers. Refinery runs twice: on one worker (the per-core comparison) and on
every core (the whole machine).
Both sides run once on 1,000 documents before they are timed. The scale runs are cold, each in a fresh process,
and report that process's own peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from corpus import labelled_batches

from refinery.dedup import DedupResult, deduplicate
from refinery.dedup.lsh import components
from refinery.recipe import Dedup, NearDedup
from refinery.runtime.tuning import Tuning

THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5
RESULTS = Path(__file__).parent / "results"
PUNCT = re.compile(r"[^\w\s]")


def datasketch_loop(texts: list[str]) -> list[int]:
    """Cluster label per document, the plain way, configured as a careful user would: a fast 32-bit hash
    (xxhash) instead of datasketch's default SHA-1, and refinery's own LSH weights (recall-leaning, since
    refinery verifies candidates; the loop does not, so its precision is what LSH alone gives)."""
    import xxhash
    from datasketch import MinHash, MinHashLSH

    weights = NearDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM).lsh_weights
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, weights=weights)
    sketches = []
    for i, text in enumerate(texts):
        words = PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()
        grams = [" ".join(words[j : j + NGRAM]) for j in range(max(1, len(words) - NGRAM + 1))]
        m = MinHash(num_perm=NUM_PERM, hashfunc=xxhash.xxh32_intdigest)
        m.update_batch([g.encode() for g in grams])
        lsh.insert(i, m)
        sketches.append(m)
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(texts))]


def refinery_dedup(path: Path, work: Path, workers: int | None = None) -> DedupResult:
    """The stage on all cores (`workers=None`), or on `workers` of them."""
    near = NearDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM)
    tuning = Tuning() if workers is None else Tuning(workers=workers)
    return deduplicate([path], work, Dedup(near=near), tuning=tuning)


def cluster_labels(path: Path, result: DedupResult) -> list[int]:
    """Cluster label per document from what the stage removed (each removed row names its keeper)."""
    ids = pl.read_parquet(path, columns=["doc_id"]).with_row_index("i")
    removed = pl.read_parquet(result.removed, columns=["doc_id", "duplicate_of"])
    edges = removed.join(ids, on="doc_id").join(ids.rename({"doc_id": "duplicate_of", "i": "j"}), on="duplicate_of")
    groups = dict(components(edges.select(a=pl.col("i").cast(pl.Int64), b=pl.col("j").cast(pl.Int64))).rows())
    return [groups.get(i, i) for i in range(ids.height)]


def pair_scores(predicted: list[int], truth: list[int]) -> dict[str, float]:
    """Pairwise precision, recall and F1: a pair is a duplicate when both documents share a cluster."""
    frame = pl.DataFrame({"p": predicted, "t": truth})

    def pairs(*keys: str) -> int:
        n = frame.group_by(*keys).len().get_column("len").cast(pl.Int64)
        return int((n * (n - 1) // 2).sum())

    tp, predicted_pairs, true_pairs = pairs("p", "t"), pairs("p"), pairs("t")
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall or 1)}


def write_corpus(n: int, path: Path) -> Path:
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == n:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for batch in labelled_batches(n):
        table = batch.to_arrow()
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    writer.close()
    return path


def warm_up(frame: pl.DataFrame, tmp: Path) -> None:
    """Both sides once on a thousand documents before timing: one-time costs per process (loading compiled
    kernels, first-use set-up in datasketch, DuckDB and Polars) are left out of the rate, like imports."""
    sample = tmp / "warm-up.parquet"
    frame.head(1000).write_parquet(sample)
    datasketch_loop(frame.head(1000).get_column("text").to_list())
    refinery_dedup(sample, tmp / "warm-up")


def compare(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_corpus(n, RESULTS / f"corpus-{n}.parquet")
        frame = pl.read_parquet(path)
        truth = frame.get_column("cluster").to_list()
        texts = frame.get_column("text").to_list()
        warm_up(frame, Path(tmp))
        started = time.perf_counter()
        baseline = datasketch_loop(texts)
        baseline_s = time.perf_counter() - started
        started = time.perf_counter()
        refinery_dedup(path, Path(tmp) / "one-core", workers=1)
        one_core_s = time.perf_counter() - started
        started = time.perf_counter()
        result = refinery_dedup(path, Path(tmp) / "work")
        ours_s = time.perf_counter() - started
        ours = cluster_labels(path, result)  # for scoring only, so not timed
    b, o = pair_scores(baseline, truth), pair_scores(ours, truth)
    cores = Tuning().workers
    print(
        f"documents: {n}, about {frame.get_column('text').str.len_bytes().mean():.0f} bytes each; "
        f"threshold {THRESHOLD}, num_perm {NUM_PERM}, {NGRAM}-word shingles; {cores} cores"
    )
    print(f"{'':30}{'docs/s':>10}{'precision':>11}{'recall':>8}{'F1':>7}")
    for name, seconds, score in [
        ("datasketch loop (1 process)", baseline_s, b),
        ("refinery dedup, 1 worker", one_core_s, None),
        (f"refinery dedup, {cores} workers", ours_s, o),
    ]:
        quality = f"{score['precision']:11.3f}{score['recall']:8.3f}{score['f1']:7.3f}" if score else ""
        print(f"{name:30}{n / seconds:10.0f}{quality}")
    print(
        f"speed-up over the loop: {baseline_s / one_core_s:.1f}x per core (one worker against one process), "
        f"{baseline_s / ours_s:.1f}x for the whole machine ({cores} workers); removed {result.removed_by_reason}"
    )


def run_scale(path: Path) -> None:
    """Child process: dedup one corpus, print wall time and this process's peak RSS."""
    n = pq.ParquetFile(path).metadata.num_rows
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        started = time.perf_counter()
        result = refinery_dedup(path, Path(tmp))
        seconds = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()  # VmHWM: this program's own peak (ru_maxrss would count
    peak_mb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # the parent's, inherited at fork)
    print(f"{n}\t{seconds:.1f}\t{peak_mb:.0f}\t{sum(result.removed_by_reason.values())}")


def scale(sizes: list[int]) -> None:
    print(f"{'documents':>10}{'seconds':>9}{'docs/s':>9}{'docs/s/core':>12}{'peak RSS MB':>12}{'removed':>9}")
    for n in sizes:
        path = write_corpus(n, RESULTS / f"corpus-{n}.parquet")
        out = subprocess.run(
            [sys.executable, __file__, "--run-scale", str(path)], check=True, capture_output=True, text=True
        ).stdout.split()
        rows, seconds, peak, removed = int(out[0]), float(out[1]), float(out[2]), int(out[3])
        print(
            f"{rows:>10}{seconds:>9.1f}{rows / seconds:>9.0f}{rows / seconds / (os.cpu_count() or 1):>12.0f}"
            f"{peak:>12.0f}{removed:>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000, help="documents for the head-to-head comparison")
    parser.add_argument("--scale", type=int, nargs="*", default=[], help="corpus sizes for throughput and memory")
    parser.add_argument("--run-scale", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_scale:
        run_scale(args.run_scale)
        return
    compare(args.docs)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
