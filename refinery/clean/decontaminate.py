"""Decontamination: a document that shares an n-gram (13 words by default, as GPT-3's) with an evaluation set is
removed as `contaminated`, naming the set and the n-gram. Words are `\\w+` tokens in lower case, so punctuation,
case and spacing do not hide an overlap. The evaluation sets' n-grams are hashed once for the whole input
(`reference`); each batch's n-grams are hashed the same way and joined against them.

Memory: a hash, a set name and the n-gram's text per distinct evaluation n-gram; a batch's n-grams while it is
checked.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TextIO

import polars as pl
import pyarrow.parquet as pq

from refinery.clean.filters import ngram_hash, word_tokens

KEY_BITS = (1 << 63) - 1


def _keys(texts: pl.DataFrame, n: int, with_text: bool = False) -> pl.DataFrame:
    """(row, start, key[, ngram]): every n-gram of consecutive words of each row's `text`, as a 63-bit hash of the
    words' hashes, with its first word's position (and its words). Vectorized over the exploded (row, word) table."""
    words = word_tokens(texts).with_columns(pos=pl.int_range(pl.len()).over("row"))
    text = [pl.concat_str([pl.col("t").shift(-k) for k in range(n)], separator=" ").alias("ngram")] if with_text else []
    same_row = (pl.col("row").shift(-(n - 1)) == pl.col("row")).fill_null(False)
    key = ngram_hash(pl.col("h"), n) & KEY_BITS
    grams = words.select("row", pl.col("pos").alias("start"), key.alias("key"), *text, whole=same_row)
    return grams.filter("whole").drop("whole")


def rows(path: Path, fields: list[str]) -> list[tuple]:
    """Each row's `fields`, None where one is missing: JSON lines (optionally gzipped) or Parquet, whose columns
    must all be there."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)  # a broken file: ArrowInvalid, a ValueError
        if missing := sorted(set(fields) - set(table.column_names)):
            raise ValueError(f"{path}: no column {', '.join(missing)}")
        return list(zip(*(table.column(f).to_pylist() for f in fields), strict=True))
    with _open(path) as fh:
        parsed = (json.loads(line) for line in fh if line.strip())
        return [tuple(row.get(f) if isinstance(row, dict) else None for f in fields) for row in parsed]


def texts(path: Path, field: str) -> list[str]:
    """The texts of an evaluation file: JSON lines (`field` of each), Parquet (its `field` column), or plain text."""
    if path.suffix == ".parquet":
        return [text for (text,) in rows(path, [field]) if text is not None]
    if ".jsonl" in path.suffixes or ".json" in path.suffixes:
        return [str(text or "") for (text,) in rows(path, [field])]
    with _open(path) as fh:
        return [fh.read()]


def _open(path: Path) -> TextIO:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def all_texts(files: list[Path], field: str) -> pl.Series:
    """Every text of the files, in order (evaluation text for ablations, too)."""
    return pl.Series("text", [t for f in files for t in texts(f, field)], dtype=pl.String)


def reference(sets: dict[str, list[Path]], field: str, n: int) -> pl.DataFrame:
    """(key, set, ngram) of every n-gram of the evaluation sets (a key once, for the first set that has it)."""
    frames = [pl.DataFrame(schema={"key": pl.UInt64, "set": pl.String, "ngram": pl.String})]
    for name, files in sorted(sets.items()):
        frame = all_texts(files, field).to_frame().with_row_index("row")
        frames.append(_keys(frame, n, with_text=True).select("key", set=pl.lit(name), ngram="ngram"))
    return pl.concat(frames).unique("key", keep="first", maintain_order=True)


def contaminated(text: pl.Series, reference: pl.DataFrame, n: int) -> pl.DataFrame:
    """Per row of `text`: the set and the n-gram of its first n-gram found in `reference` (nulls: none found)."""
    rows = pl.DataFrame({"text": text}).with_row_index("row")
    found = (
        _keys(rows, n)
        .join(reference, on="key", how="inner")
        .sort("row", "start")
        .group_by("row", maintain_order=True)
        .agg(pl.col("set").first(), pl.col("ngram").first())
    )
    return (
        rows.select("row")
        .join(found, on="row", how="left")
        .select(_contaminated_set="set", _contaminated_ngram="ngram")
    )
