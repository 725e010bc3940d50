"""Stable, vectorized hashes: the same input gives the same id on any machine and any library version.

Polars' own `hash()` is seeded per release, so ids that must outlive a run are computed with DuckDB's `md5`.
"""

import hashlib
from pathlib import Path

import duckdb
import polars as pl


def stable_id(frame: pl.DataFrame, columns: list[str], width: int = 16) -> pl.Series:
    """Hex id over `columns` joined with a unit separator (nulls as empty), `width` hex digits of MD5."""
    parts = ", ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in columns)
    con = duckdb.connect()
    con.register("frame", frame.select(columns).to_arrow())
    ids = con.sql(f"SELECT left(md5(concat_ws(chr(31), {parts})), {width}) AS id FROM frame").to_arrow_table()
    return pl.Series("doc_id", ids.column("id"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
