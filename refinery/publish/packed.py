"""Tokenized fuel for trainers: each split's documents tokenized, shuffled and packed end to end, an end-of-document
token after each, in the format datatrove's `DocumentTokenizer` writes and nanotron trains from (read with
datatrove's `DatatroveFolderDataset`): `<name>.ds` (the token ids, little-endian uint16, or uint32 for vocabularies
over 65,535), `<name>.ds.index` (each document's end, uint64) and `<name>.ds.metadata`. Beside them,
`<name>.docs.parquet` says which document each token range is: `doc_id`, its ore `source_uri` and `line`, and
`start`/`end` in tokens, so any window a trainer reads traces back to its ore.

Memory: the tokens are written once in the version's order and then copied in the shuffled order through a
memory map, so a split costs its document count in 8-byte offsets, not its text.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from refinery.publish.tokens import EOS  # the end-of-document token: in a trained tokenizer, required of a named one
from refinery.records import ROW_GROUP_ROWS, parquet_batches

COLUMNS = ["doc_id", "text", "source_uri", "line"]


def pack(parts: list[Path], tokenizer_json: str, folder: Path, name: str, seed: int, split: str | None) -> dict:
    """`folder/<name>.ds` (+ index, metadata, docs) from the documents of `parts` (of `split`, when given), in an
    order shuffled by `seed`. Returns the shard's entry for the manifest: documents, tokens, token size."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    eos, vocab = tokenizer.token_to_id(EOS), tokenizer.get_vocab_size()
    if eos is None:
        raise ValueError(f"publish.tokenized needs a tokenizer with the end-of-document token {EOS!r}")
    dtype = np.uint16 if vocab <= np.iinfo(np.uint16).max else np.uint32
    folder.mkdir(parents=True, exist_ok=True)
    ordered, docs = folder / f"{name}.unshuffled", []
    batches = parquet_batches(parts, ROW_GROUP_ROWS, COLUMNS + (["split"] if split else []))
    with ordered.open("wb") as out:
        for batch, encoded in _encoded(batches, tokenizer, split):
            lengths = [len(e.ids) + 1 for e in encoded]
            out.write(_with_ends([np.asarray(e.ids, dtype=dtype) for e in encoded], lengths, eos, dtype).tobytes())
            docs.append(batch.select(COLUMNS[0], *COLUMNS[2:]).with_columns(length=pl.Series(lengths, dtype=pl.Int64)))
    table = pl.concat(docs) if docs else pl.DataFrame(schema={"doc_id": pl.String, "length": pl.Int64})
    return _shuffled(ordered, table, np.random.default_rng(seed).permutation(table.height), folder / name, dtype, vocab)


def _encoded(batches: Iterator[pl.DataFrame], tokenizer, split: str | None) -> Iterator[tuple[pl.DataFrame, list]]:
    """Each batch (of `split`) with its encodings; the next batch encodes (in Rust, off the GIL, on every core)
    while the caller writes this one. Two batches are held at a time."""

    def encode(batch: pl.DataFrame) -> tuple[pl.DataFrame, list]:
        batch = batch.filter(pl.col("split") == split) if split else batch
        return batch, tokenizer.encode_batch_fast(batch.get_column("text").to_list(), add_special_tokens=False)

    with ThreadPoolExecutor(1) as ahead:
        pending = None
        for batch in batches:
            following = ahead.submit(encode, batch)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


def _with_ends(ids: list[np.ndarray], lengths: list[int], eos: int, dtype: type) -> np.ndarray:
    """The documents' token ids end to end, `eos` after each."""
    flat = np.full(sum(lengths), eos, dtype=dtype)
    body = np.ones(len(flat), dtype=bool)
    body[np.cumsum(lengths) - 1] = False
    if ids:
        flat[body] = np.concatenate(ids)
    return flat


def _shuffled(ordered: Path, docs: pl.DataFrame, order: np.ndarray, base: Path, dtype: type, vocab: int) -> dict:
    """The documents of `ordered` copied in `order` to `<base>.ds`, with the index, metadata and docs table."""
    lengths = docs.get_column("length").to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    tokens = np.memmap(ordered, dtype=dtype, mode="r") if lengths.sum() else np.zeros(0, dtype=dtype)
    with open(f"{base}.ds", "wb") as out:
        for i in order:
            out.write(tokens[starts[i] : starts[i] + lengths[i]].tobytes())
    del tokens
    ordered.unlink()
    ends = np.cumsum(lengths[order]).astype(np.uint64)
    Path(f"{base}.ds.index").write_bytes(ends.astype("<u8").tobytes())
    total, size = int(ends[-1]) if len(ends) else 0, np.dtype(dtype).itemsize
    Path(f"{base}.ds.metadata").write_text(f"refinery|{vocab}|{size}\n{total}\n{total} tokens")
    table = docs.select(pl.all().gather(order)).with_columns(end=pl.Series(ends.astype(np.int64)))
    table.with_columns(start=pl.col("end") - pl.col("length")).drop("length").write_parquet(f"{base}.docs.parquet")
    return {"documents": len(ends), "tokens": total, "token_size": size}
