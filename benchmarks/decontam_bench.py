"""Decontamination: refinery's batched n-gram join (`refinery.clean.decontaminate`) against a per-document Python
loop over the same 13-grams and a set of the evaluation n-grams, on the same ~1 KB documents, in the same run.
Evaluation n-grams come from held-aside documents of the same corpus (100k 13-grams by default); 1,000 documents
get a planted 13-word run of an evaluation text. Both sides must find the same documents (the corpus' seeded
near-duplicates of held-aside documents are contaminated too), and refinery every planted one.

    python benchmarks/decontam_bench.py [--docs 1000000] [--ngrams 100000]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from corpus import labelled_batches

from refinery.clean.decontaminate import contaminated, reference

N = 13
BASELINE_DOCS = 20_000  # the Python loop's share: enough for a steady rate
HELD = 5_000  # documents held aside as evaluation texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--ngrams", type=int, default=100_000)
    args = parser.parse_args()
    batches = list(labelled_batches(args.docs + HELD, seed=11))
    texts = pl.concat(b.select("text") for b in batches).get_column("text")
    held, texts = texts.head(HELD), texts.slice(HELD, args.docs)
    held_words = [re.findall(r"\w+", t.lower()) for t in held]
    eval_texts, distinct = [], set()
    for words in held_words:  # evaluation texts until they hold --ngrams distinct 13-grams
        eval_texts.append(" ".join(words))
        distinct.update(tuple(words[k : k + N]) for k in range(len(words) - N + 1))
        if len(distinct) >= args.ngrams:
            break
    rng = random.Random(3)
    planted = sorted(rng.sample(range(args.docs), 1_000))
    runs = {i: " ".join(rng.choice(held_words[: len(eval_texts)])[20 : 20 + N]) for i in planted}
    texts = texts.scatter(planted, [f"{texts[i]} {runs[i].upper()}." for i in planted])
    folder = Path(sys.argv[0]).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / "eval.txt").write_text("\n".join(eval_texts))
    started = time.perf_counter()
    ref = reference({"eval": [folder / "eval.txt"]}, "text", N)
    found = [contaminated(texts.slice(s, 20_000), ref, N) for s in range(0, len(texts), 20_000)]
    ours_s = time.perf_counter() - started
    hits = pl.concat(found).with_row_index("i").filter(pl.col("_contaminated_set").is_not_null()).get_column("i")
    keys = {tuple(w[k : k + N]) for text in eval_texts for w in [text.split()] for k in range(len(w) - N + 1)}
    started = time.perf_counter()
    theirs = []
    for i, text in enumerate(texts.head(BASELINE_DOCS)):
        w = re.findall(r"\w+", text.lower())
        if any(tuple(w[k : k + N]) in keys for k in range(len(w) - N + 1)):
            theirs.append(i)
    theirs_s = time.perf_counter() - started
    print(f"{len(texts):,} documents against {ref.height:,} evaluation 13-grams; 1,000 planted overlaps")
    print(f"refinery: {ours_s:6.1f} s in all, {len(texts) / ours_s:10,.0f} docs/s (one process)")
    print(f"python set loop: {BASELINE_DOCS / theirs_s:10,.0f} docs/s on the first {BASELINE_DOCS:,}")
    print(f"speed-up {(len(texts) / ours_s) / (BASELINE_DOCS / theirs_s):.1f}x per core")
    agree = [i for i in hits.to_list() if i < BASELINE_DOCS] == theirs
    print(
        f"same documents as the loop on its {BASELINE_DOCS:,}: {agree}; every planted one found: "
        f"{set(planted) <= set(hits.to_list())} ({len(hits):,} contaminated in all)"
    )


if __name__ == "__main__":
    main()
