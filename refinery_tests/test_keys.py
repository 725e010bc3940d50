"""Whole-corpus questions about doc_ids, asked one hash partition of the ids at a time (`refinery.runtime.keys`):
naming repeated ids, accounting and the uniqueness expectation give the answers a single pass over every id gives,
and the answers that a plain count in Python gives, whatever the number of partitions."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refinery.identity import identify
from refinery.records import INGESTED_SCHEMA
from refinery.runtime.engine import Engine
from refinery.runtime.keys import Keyed, partitioned
from refinery.runtime.tuning import Sizes
from refinery.validate.accounting import account

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ONE = Engine()  # a corpus this small is one partition
TINY = Engine(sizes=Sizes(key_rows=2))  # ... cut into many here, in this process
ids = st.lists(st.sampled_from("abcdefg"), max_size=9)


def _ingested(path: Path, rows: list[tuple[str, str]]) -> Path:
    frame = pl.DataFrame(
        {"doc_id": [d for d, _ in rows], "text": [t for _, t in rows], "source": ["s"] * len(rows)},
        schema={"doc_id": pl.String, "text": pl.String, "source": pl.String},
    )
    frame.with_columns(pl.lit(None, t).alias(c) for c, t in INGESTED_SCHEMA.items() if c not in frame.columns).select(
        list(INGESTED_SCHEMA)
    ).write_parquet(path)
    return path


def _ids(path: Path, doc_ids: list[str]) -> Path:
    pl.DataFrame({"doc_id": doc_ids}, schema={"doc_id": pl.String}).write_parquet(path)
    return path


@PROPERTY
@given(
    files=st.lists(
        st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from("xy")), max_size=6), min_size=1, max_size=3
    ),
    taken=ids,
)
def test_repeated_ids_are_named_alike_however_the_ids_are_partitioned(files, taken):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inputs = [_ingested(base / f"in-{i}.parquet", rows) for i, rows in enumerate(files)]
        old = [_ids(base / "taken.parquet", taken)]
        named = [
            [pl.read_parquet(p) for p in identify(inputs, base / name, old, engine)]
            for name, engine in (("one", ONE), ("many", TINY))
        ]
        assert [f.equals(g) for f, g in zip(*named, strict=True)] == [True] * len(inputs)
        given_ids = pl.concat(named[1]).get_column("doc_id").to_list()
        assert len(set(given_ids)) == len(given_ids) and not set(given_ids) & set(taken)


@PROPERTY
@given(refined=ids, removed=st.lists(ids, min_size=1, max_size=3))
def test_accounting_counts_repeats_and_overlap_in_every_partition(refined, removed):
    """The counts equal Python's over the same ids: a repeat or an overlap split across partitions would be lost."""
    everything = [i for ids_ in removed for i in ids_]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files = [_ids(base / f"removed-{i}.parquet", r) for i, r in enumerate(removed)]
        verdicts = [account(_ids(base / "refined.parquet", refined), files, 0, e, base) for e in (ONE, TINY)]
    expected = (
        len(refined),
        len(everything),
        sum(n - 1 for n in Counter(refined).values()),
        sum(n - 1 for n in Counter(everything).values()),
        len(set(refined) & set(everything)),
    )
    for verdict in verdicts:
        got = (verdict.refined, verdict.removed, verdict.repeated_refined, verdict.repeated_removed, verdict.in_both)
        assert got == expected


def _sizes(keyed: Keyed, partition: int) -> tuple[int, set[str]]:
    keys = keyed.scan("values", partition).collect().get_column("doc_id")
    return len(keys), set(keys)


def test_partitions_run_on_workers_and_split_the_keys(tmp_path):
    """With two workers, each partition is answered in a worker process; the partitions do not share a key, and
    together hold every row."""
    values = [f"id-{i % 699}" for i in range(1000)]
    path = _ids(tmp_path / "values.parquet", values)
    found = partitioned({"values": [path]}, "doc_id", _sizes, Engine(2, Sizes(key_rows=300)), tmp_path)
    assert len(found) == 4 and sum(n for n, _ in found) == 1000
    keys = [k for _, k in found]
    assert set().union(*keys) == set(values) and sum(map(len, keys)) == 699
