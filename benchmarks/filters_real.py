"""Quality filters on real forum text: per-filter removal rates over the 20 Newsgroups posts in the shared corpus,
with forum structure (headers, quoted replies, signatures) stripped first and without, in the same run.

    python benchmarks/filters_real.py [--corpus ../shared/corpora/news20-train.jsonl.gz] [--docs N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl

from refinery.clean.steps import clean_batch
from refinery.recipe import Clean, Filters, Structure

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "news20-train.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--docs", type=int, default=None)
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"no corpus at {args.corpus}: this benchmark needs the shared real text")
    with gzip.open(args.corpus, "rt") as fh:
        # the corpus file stores each post's line breaks as tabs: put them back
        texts = [json.loads(line)["text"].replace("\t", "\n") for line in fh][: args.docs]
    frame = pl.DataFrame({"doc_id": [str(i) for i in range(len(texts))], "text": texts})
    runs = {}
    for min_words in (50, 20):
        for strip in (False, True):
            label = f"min_words {min_words}{', stripped' if strip else ''}"
            structure = Structure(headers=strip, quotes=strip, signature=strip)
            config = Clean(structure=structure, filters=Filters(min_words=min_words, languages=["en"]))
            started = time.perf_counter()
            out = clean_batch(frame, config)
            runs[label] = (Counter(r for r in out.get_column("reason") if r), time.perf_counter() - started)
    print(f"{len(texts)} real Usenet posts; share of posts each filter removes (first failing filter)")
    first = next(iter(runs.values()))[0]
    names = sorted(set().union(*(c for c, _ in runs.values())), key=lambda n: -first[n])
    print(f"{'filter':<24}" + "".join(f"{label:>26}" for label in runs))
    for name in names:
        print(f"{name:<24}" + "".join(f"{counts[name] / len(texts):>26.1%}" for counts, _ in runs.values()))
    print(f"{'all filters':<24}" + "".join(f"{sum(c.values()) / len(texts):>26.1%}" for c, _ in runs.values()))
    print(f"{'docs/s':<24}" + "".join(f"{len(texts) / s:>26.0f}" for _, s in runs.values()))


if __name__ == "__main__":
    main()
