"""Packed token shards: refinery's `pack` against datatrove's `DocumentTokenizer` (the same tokenizer, documents,
end-of-document token and document shuffle), in the same run, one process each. Both write nanotron's .ds format;
the benchmark checks that they wrote the same number of tokens and documents.

    python benchmarks/tokenize_bench.py [--corpus ../shared/corpora/news20-train.jsonl.gz] [--repeat 4]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from refinery.publish.packed import pack
from refinery.publish.tokens import EOS, trained

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "news20-train.jsonl.gz"


def datatrove_tokens(texts: list[str], tokenizer: Path, out: Path, seed: int) -> int:
    from datatrove.data import Document
    from datatrove.pipeline.tokens import DocumentTokenizer

    step = DocumentTokenizer(
        str(out), tokenizer_name_or_path=str(tokenizer), eos_token=EOS, shuffle_documents=True, seed=seed
    )
    step.run((Document(text=t, id=str(i)) for i, t in enumerate(texts)), rank=0, world_size=1)
    return sum(p.stat().st_size for p in out.rglob("*.ds")) // 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=4, help="the corpus this many times over")
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"no corpus at {args.corpus}: this benchmark needs the shared real text")
    with gzip.open(args.corpus, "rt") as fh:
        texts = [json.loads(line)["text"].replace("\t", "\n") for line in fh] * args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        part = root / "part.parquet"
        frame = pl.DataFrame({"doc_id": [str(i) for i in range(len(texts))], "text": texts})
        frame.with_columns(source_uri=pl.lit("news20"), line=pl.int_range(pl.len())).write_parquet(part)
        tokenizer = trained(part, 16_384)
        (root / "tokenizer.json").write_text(tokenizer)
        start = time.perf_counter()
        theirs = datatrove_tokens(texts, root / "tokenizer.json", root / "datatrove", seed=1)
        theirs_s = time.perf_counter() - start
        start = time.perf_counter()
        ours = pack([part], tokenizer, root / "refinery", "000_all", seed=1, split=None)
        ours_s = time.perf_counter() - start
        ds = np.fromfile(root / "refinery" / "000_all.ds", dtype=np.uint16)
    assert ours["tokens"] == theirs == len(ds), (ours, theirs)
    print(f"{len(texts):,} documents, {ours['tokens']:,} tokens (both wrote the same count)")
    print(f"datatrove DocumentTokenizer: {theirs / theirs_s:12,.0f} tokens/s")
    print(f"refinery pack:               {ours['tokens'] / ours_s:12,.0f} tokens/s   ratio {theirs_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
