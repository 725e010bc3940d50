"""Near-duplicate parameters chosen on real text: a labelled set built from the 20 Newsgroups posts of the shared
corpus, swept over threshold x shingle size x LSH band weights, with the plain datasketch loop beside it.

Labels: every chosen post is its own cluster; a third of them get a seeded edited copy of a kind users meet
(typos, an inserted or a dropped sentence, a quoted reply, a changed signature or header, truncation), which
belongs to its original's cluster; posts that are already near-duplicates of each other in the corpus (reposts,
crossposts) are merged when their exact Jaccard over word 3-grams is at least 0.8. Scores are pairwise.

    python benchmarks/dedup_real.py [--posts 3000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from dedup_bench import cluster_labels, pair_scores

from refinery.clean.structure import strip_structure
from refinery.dedup import deduplicate
from refinery.dedup.lsh import components
from refinery.recipe import Dedup, NearDedup, Structure
from refinery.records import INGESTED_SCHEMA

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "news20-train.jsonl.gz"
SENTENCE = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"\w+")
EXTRA = "For what it is worth, I have seen the same thing on two other machines at work this week."


def _typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, len(words) // 40)):
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def _sentences(text: str, rng: random.Random, insert: bool) -> str:
    parts = SENTENCE.split(text)
    i = rng.randrange(len(parts))
    if insert:
        parts.insert(i, EXTRA)
    elif len(parts) > 2:
        parts.pop(i)
    return " ".join(parts)


def _quoted_reply(text: str, rng: random.Random) -> str:
    quoted = "\n".join("> " + line for line in text.splitlines())
    return f"In article <{rng.randrange(10**9)}@news.example.edu>, someone writes:\n{quoted}\n\nAgreed, thanks."


def _signature(text: str, rng: random.Random) -> str:
    body = text.split("\n-- \n")[0]
    return f"{body}\n-- \nPat Example {rng.randrange(100)}   | My opinions are my own | +1 555 0100"


def _header(text: str, rng: random.Random) -> str:
    text = re.sub(r"(?m)^Lines: \d+", f"Lines: {rng.randrange(10, 300)}", text)
    return re.sub(r"(?m)^Subject: ", "Subject: Re: ", text, count=1)


def _truncate(text: str, rng: random.Random) -> str:
    return text[: int(len(text) * rng.uniform(0.8, 0.92))]


EDITS = {
    "typos": _typos,
    "inserted sentence": lambda t, r: _sentences(t, r, True),
    "dropped sentence": lambda t, r: _sentences(t, r, False),
    "quoted reply": _quoted_reply,
    "signature": _signature,
    "header": _header,
    "truncation": _truncate,
}


def shingles(text: str, n: int = 3) -> set[str]:
    words = WORD.findall(text.lower())
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def labelled(posts: int, seed: int = 5) -> tuple[pl.DataFrame, list[int]]:
    """(ingested rows, true cluster per row)."""
    with gzip.open(CORPUS, "rt") as fh:
        texts = [json.loads(line)["text"].replace("\t", "\n") for line in fh]
    rng = random.Random(seed)
    originals = rng.sample([t for t in texts if len(WORD.findall(t)) >= 40], posts)
    rows, truth = list(originals), list(range(posts))
    for i in rng.sample(range(posts), posts // 3):
        edit = rng.choice(list(EDITS.values()))
        rows.append(edit(originals[i], rng))
        truth.append(i)
    truth = _merge_natural(rows, truth)
    frame = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(rows))], "text": rows})
    frame = frame.with_columns(source=pl.lit("news"), source_id=pl.col("doc_id"), source_uri=pl.lit("news"))
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in INGESTED_SCHEMA.items()
    ), truth


def _merge_natural(rows: list[str], truth: list[int]) -> list[int]:
    """Merge clusters of posts that are near-duplicates already (candidates from a loose, unverified pass)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        pl.DataFrame({"doc_id": [str(i) for i in range(len(rows))], "text": rows}).with_columns(
            *(pl.lit(None, t).alias(c) for c, t in INGESTED_SCHEMA.items() if c not in ("doc_id", "text"))
        ).select(list(INGESTED_SCHEMA)).write_parquet(path)
        loose = Dedup(exact=False, near=NearDedup(threshold=0.5, ngram=3, verify=False, weights=(0.1, 0.9)))
        removed = pl.read_parquet(deduplicate([path], Path(tmp) / "w", loose).removed)
    edges = [(int(a), int(b)) for a, b in removed.select("doc_id", "duplicate_of").iter_rows()]
    confirmed = [(a, b) for a, b in edges if truth[a] != truth[b] and _jaccard(rows[a], rows[b]) >= 0.8]
    if not confirmed:
        return truth
    clusters = components(pl.DataFrame({"a": [truth[a] for a, _ in confirmed], "b": [truth[b] for _, b in confirmed]}))
    merged = dict(clusters.select(pl.col("idx"), pl.col("cluster")).rows())
    return [merged.get(t, t) for t in truth]


def _jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=3000)
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"no corpus at {CORPUS}: this benchmark needs the shared real text")
    frame, truth = labelled(args.posts)
    print(
        f"{frame.height} documents ({args.posts} real posts, {frame.height - args.posts} edited copies), "
        f"{len(set(truth))} true clusters"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labelled.parquet"
        frame.write_parquet(path)
        print(
            f"{'threshold':>9} {'ngram':>5} {'weights':>10} {'bands x rows':>12} "
            f"{'P':>6} {'R':>6} {'F1':>6} {'docs/s':>8}"
        )
        for threshold in (0.6, 0.7, 0.8):
            for ngram in (2, 3, 5):
                for weights in ((0.5, 0.5), (0.1, 0.9)):
                    near = NearDedup(threshold=threshold, ngram=ngram, weights=weights)
                    started = time.perf_counter()
                    result = deduplicate([path], Path(tmp) / f"{threshold}-{ngram}-{weights[0]}", Dedup(near=near))
                    seconds = time.perf_counter() - started
                    s = pair_scores(cluster_labels(path, result), truth)
                    bands = f"{result.params['bands']} x {result.params['rows']}"
                    print(
                        f"{threshold:>9} {ngram:>5} {weights!s:>10} {bands:>12} {s['precision']:>6.3f} "
                        f"{s['recall']:>6.3f} {s['f1']:>6.3f} {frame.height / seconds:>8.0f}"
                    )
        stripped = frame.with_columns(
            strip_structure(frame, Structure(headers=True, quotes=True, signature=True))["text"]
        )
        stripped.write_parquet(path)
        result = deduplicate([path], Path(tmp) / "stripped", Dedup())
        s = pair_scores(cluster_labels(path, result), truth)
        print(
            f"defaults on posts with headers, quotes and signatures stripped first: P {s['precision']:.3f} "
            f"R {s['recall']:.3f} F1 {s['f1']:.3f}"
        )
    from dedup_bench import datasketch_loop

    started = time.perf_counter()
    labels = datasketch_loop(frame.get_column("text").to_list())
    seconds = time.perf_counter() - started
    s = pair_scores(labels, truth)
    print(
        f"datasketch loop (0.8, 5-gram): P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f}, "
        f"{frame.height / seconds:.0f} docs/s"
    )


if __name__ == "__main__":
    main()
