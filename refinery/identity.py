"""Document identity over every input of a run: one rule, applied in one place.

A record's *key* is its native id when it has a usable one (not null, not blank), else its text: what the
document is, never where it sits, so inserting, moving or splitting ore renames nothing. Its *base id* is
md5(source, kind of key, key), computed by the reader (`key_id`).

Keys repeat: restarted native ids in daily drops, the same text twice. `identify` names every record of a run,
in run order (documents carried forward first, then the ore), so that no two records share an id:

- the first record with a base id keeps it, unless an earlier version already gave it out (`taken`);
- every later one is named by its content and occurrence: md5(base # md5(text) # k), k = 1, 2, ... the first
  number not given out before for that base and text.

So a run over drops 1..n names records exactly as n runs that carried the earlier drops forward did: the ids an
incremental run finds taken are the ids a run from scratch gave the same records before. Memory: a group-by over
one hash partition of the base ids at a time (`refinery.runtime.keys`: at most `Sizes.key_rows` ids, on a worker
when there are more), then only the repeated ids and their rows; texts one file at a time.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from refinery.hashing import stable_id
from refinery.records import INGESTED_SCHEMA, ROW_GROUP_ROWS, RowGroupWriter, parquet_batches
from refinery.runtime.engine import Engine
from refinery.runtime.keys import Keyed, partitioned


def usable_id(native_id: pl.Expr) -> pl.Expr:
    """The native id, or null when it cannot name a document (null, empty or only whitespace)."""
    return pl.when(native_id.str.strip_chars() != "").then(native_id).otherwise(pl.lit(None, pl.String))


def key_id(frame: pl.DataFrame) -> pl.Series:
    """Base ids of ingested rows (`source`, `text` and a `native_id` column that may be null)."""
    native = usable_id(pl.col("native_id"))
    keyed = frame.select(
        "source",
        _kind=pl.when(native.is_not_null()).then(pl.lit("native_id")).otherwise(pl.lit("text")),
        _key=pl.coalesce(native, pl.col("text")),
    )
    return stable_id(keyed, ["source", "_kind", "_key"])


def _ids(paths: list[Path]) -> pl.LazyFrame:
    empty = pl.LazyFrame(schema={"doc_id": pl.String})
    return pl.concat([empty, *(pl.scan_parquet(p).select("doc_id") for p in paths)])


def _hits(keyed: Keyed, partition: int) -> pl.DataFrame:
    """The input rows of one partition of the base ids whose id is repeated in the inputs or already taken: (base,
    file, row, whether its base was taken)."""
    new, old = keyed.scan("inputs", partition), keyed.scan("taken", partition).select("doc_id").unique()
    counts = new.group_by("doc_id").len()
    hit = counts.join(old.with_columns(_taken=pl.lit(True)), on="doc_id", how="left")
    hit = hit.filter((pl.col("len") > 1) | pl.col("_taken").is_not_null())
    hit = hit.select("doc_id", _taken=pl.col("_taken").fill_null(False)).collect(engine="streaming")
    return new.join(hit.lazy(), on="doc_id").collect(engine="streaming")


def _repeated(inputs: list[Path], taken: list[Path], engine: Engine, scratch: Path) -> pl.DataFrame:
    """Every input row whose base id is repeated in the inputs or already taken: (file, row, base, text hash,
    whether its base was taken), in run order. Repeats are found one hash partition of the ids at a time."""
    found = partitioned({"inputs": inputs, "taken": taken}, "doc_id", _hits, engine, scratch)
    rows = pl.concat(found).sort("_file", "_row")
    if rows.is_empty():
        return pl.DataFrame()
    hashed = []
    for i, path in enumerate(inputs):  # the texts of one file's repeated rows at a time, hashed and let go
        wanted = rows.filter(pl.col("_file") == i).get_column("_row").cast(pl.UInt32).implode()
        text = pl.scan_parquet(path).with_row_index("_row").filter(pl.col("_row").is_in(wanted)).collect()
        th = stable_id(text, ["text"], width=32).alias("_th")
        hashed.append(text.select(_file=pl.lit(i, pl.Int32), _row=pl.col("_row").cast(pl.Int64)).with_columns(th))
    return rows.join(pl.concat(hashed), on=["_file", "_row"], maintain_order="left")


def _named(rows: pl.DataFrame, taken: list[Path]) -> pl.DataFrame:
    """(file, row, new doc_id) for the repeated rows: the first of a base keeps it (unless taken), the others are
    numbered per (base, text) from the first number not taken."""
    rows = rows.with_columns(_first=(pl.int_range(pl.len()).over("doc_id") == 0) & ~pl.col("_taken"))
    later = rows.filter(~pl.col("_first")).with_columns(
        _k=pl.int_range(1, pl.len() + 1).over("doc_id", "_th"), _offset=pl.lit(0, pl.Int64)
    )
    while True:  # skip the numbers an earlier version gave out: a few rounds at most
        named = later.with_columns(_name=pl.format("{}#{}#{}", "doc_id", "_th", pl.col("_k") + pl.col("_offset")))
        named = named.with_columns(_new=stable_id(named, ["_name"]))
        clash = _ids(taken).join(named.lazy().select(doc_id="_new"), on="doc_id", how="semi").collect()
        if clash.is_empty():
            break
        bump = named.filter(pl.col("_new").is_in(clash.get_column("doc_id").implode())).group_by("doc_id", "_th").len()
        later = later.join(bump, on=["doc_id", "_th"], how="left").with_columns(
            _offset=pl.col("_offset") + pl.col("len").fill_null(0)
        )
        later = later.drop("len")
    return named.select("_file", "_row", doc_id="_new")


def identify(
    inputs: list[Path], out_dir: Path, taken: list[Path] | None = None, engine: Engine | None = None
) -> list[Path]:
    """The inputs (ingested rows with base ids, in run order) with ids unique over the run and over the ids in
    `taken` (files with a doc_id column: what earlier versions gave out). Files that need no change are returned
    as they are; the others are rewritten under `out_dir`."""
    taken = taken or []
    rows = _repeated(inputs, taken, engine or Engine(), out_dir)
    if rows.is_empty():
        return list(inputs)
    named = _named(rows, taken)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for i, path in enumerate(inputs):
        mine = named.filter(pl.col("_file") == i).select("_row", _new="doc_id")
        if mine.is_empty():
            result.append(path)
            continue
        target = out_dir / f"identified-{i:05d}.parquet"
        with RowGroupWriter(target, INGESTED_SCHEMA) as out:
            start = 0
            for batch in parquet_batches(path, ROW_GROUP_ROWS, list(INGESTED_SCHEMA)):
                batch = batch.with_columns(_row=pl.int_range(start, start + batch.height, dtype=pl.Int64))
                batch = batch.join(mine, on="_row", how="left", maintain_order="left")
                out.write(batch.with_columns(doc_id=pl.coalesce("_new", "doc_id")).select(list(INGESTED_SCHEMA)))
                start += batch.height
        result.append(target)
    return result
