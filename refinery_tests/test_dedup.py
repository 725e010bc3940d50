import os
from functools import partial

import numpy as np
import polars as pl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from refinery.dedup import Reference, deduplicate
from refinery.recipe import Dedup, NearDedup
from refinery.runtime.engine import Engine
from refinery_tests.conftest import ingested_frame
from refinery_tests.synth import document

DEFAULT = Dedup()


def _run(tmp_path, texts, config=DEFAULT, reference=None, name="run", prefix="d"):
    path = tmp_path / f"{name}.parquet"
    ingested_frame(texts, prefix).write_parquet(path)
    result = deduplicate([path], tmp_path / name, config, reference)
    return result, pl.read_parquet(result.kept), pl.read_parquet(result.removed)


def test_exact_and_near_duplicates_are_removed_with_what_they_duplicate(tmp_path, rng):
    base = document(rng, 14)
    longer = base + " I tried a quiet kettle for 9 days and nothing changed at all."
    texts = [base, base.upper().replace(".", " ."), longer, document(rng, 14), "tiny"]
    result, kept, removed = _run(tmp_path, texts)
    assert kept.get_column("doc_id").to_list() == ["d2", "d3", "d4"]  # the longest of the cluster is kept
    rows = {r["doc_id"]: r for r in removed.to_dicts()}
    # d1 duplicates d0 exactly, d0 was then merged into d2: d1 points on to the document that was kept
    assert rows["d1"]["reason"] == "exact_duplicate" and rows["d1"]["duplicate_of"] == "d2"
    assert rows["d1"]["similarity"] == rows["d0"]["similarity"]
    assert rows["d0"]["reason"] == "near_duplicate" and rows["d0"]["duplicate_of"] == "d2"
    assert 0.8 <= rows["d0"]["similarity"] < 1
    assert set(removed.get_column("stage")) == {"dedup"}
    assert result.rows_in == kept.height + removed.height
    assert result.cluster_sizes == {3: 1}


def test_keep_first_and_switches(tmp_path, rng):
    base = document(rng, 14)
    texts = [base, base + " One more closing sentence for the record.", base]
    _, kept, _ = _run(tmp_path, texts, Dedup(near=NearDedup(keep="first")), name="first")
    assert kept.get_column("doc_id").to_list() == ["d0"]
    _, kept, removed = _run(tmp_path, texts, Dedup(exact=False, near=NearDedup(enabled=False)), name="off")
    assert kept.height == 3 and removed.height == 0


def test_verification_drops_lsh_false_positives(tmp_path, rng):
    texts = []
    for _ in range(20):  # pairs sharing ~70% of their words: below 0.6 Jaccard, yet often in one LSH band
        words = document(rng, 14).split()
        texts += [" ".join(words), " ".join(words[: int(len(words) * 0.7)]) + " " + document(rng, 4)]
    verified, _, _ = _run(
        tmp_path, texts, Dedup(exact=False, near=NearDedup(threshold=0.6, weights=(0.5, 0.5))), name="on"
    )
    unverified, _, _ = _run(
        tmp_path, texts, Dedup(exact=False, near=NearDedup(threshold=0.6, verify=False, weights=(0.5, 0.5))), name="off"
    )
    assert verified.params["candidate_pairs"] == unverified.params["candidate_pairs"] > 0
    assert verified.params["band_bytes_shuffled"] == unverified.params["band_bytes_shuffled"] > 0
    assert verified.params["verified_pairs"] < verified.params["candidate_pairs"]
    assert sum(verified.removed_by_reason.values()) < sum(unverified.removed_by_reason.values())


def _run_ids(tmp_path, docs: dict[str, str], config=DEFAULT, reference=None, name="run"):
    path = tmp_path / f"{name}.parquet"
    ingested_frame(list(docs.values())).with_columns(doc_id=pl.Series(list(docs))).write_parquet(path)
    result = deduplicate([path], tmp_path / name, config, reference)
    return result, pl.read_parquet(result.kept), pl.read_parquet(result.removed)


def test_previous_documents_still_in_the_ore_win_and_gone_ones_leave(tmp_path, rng):
    old = {f"d{i}": document(rng, 14) for i in range(5)}
    first, _, _ = _run_ids(tmp_path, old, name="v1")
    reference = Reference([first.kept], first.signatures)
    new = {
        "d1": old["d1"],  # still in the ore: keeps its place although a longer near copy arrives
        "n0": old["d1"] + " Thanks again to everyone who replied here.",
        "n1": document(rng, 14),
        "d2": old["d2"],
        "n2": old["d2"],
        "n3": old["d0"] + " One more closing sentence.",  # d0's ore is gone: its near copy is simply new
    }
    _, kept, removed = _run_ids(tmp_path, new, reference=reference, name="v2")
    assert kept.get_column("doc_id").to_list() == ["d1", "n1", "d2", "n3"]
    rows = {r["doc_id"]: r for r in removed.to_dicts()}
    assert rows.keys() == {"n0", "n2"}
    assert rows["n0"]["duplicate_of"] == "d1" and rows["n0"]["reason"] == "near_duplicate"
    assert rows["n2"]["duplicate_of"] == "d2" and rows["n2"]["reason"] == "exact_duplicate"


def test_stored_signatures_are_reused_only_for_unchanged_text(tmp_path, rng):
    old = {f"d{i}": document(rng, 14) for i in range(3)}
    first, _, _ = _run_ids(tmp_path, old, name="v1")
    other = document(rng, 14)
    # forge d1's stored signature to equal that of an unrelated document: if it is reused, the two collide
    probe, _, _ = _run_ids(tmp_path, {"x": other}, name="probe")
    forged = pl.read_parquet(probe.signatures).with_columns(doc_id=pl.lit("d1"))
    stored = pl.read_parquet(first.signatures)
    forged = forged.with_columns(text_hash=stored.filter(pl.col("doc_id") == "d1").get_column("text_hash"))
    pl.concat([stored.filter(pl.col("doc_id") != "d1"), forged]).write_parquet(tmp_path / "forged.parquet")
    reference = Reference([first.kept], tmp_path / "forged.parquet")
    unverified = Dedup(near=NearDedup(verify=False))
    _, _, removed = _run_ids(tmp_path, {**old, "n": other}, unverified, reference, name="v2")
    assert removed.get_column("doc_id").to_list() == ["n"]  # the stored signature was used as it is
    # the same id with edited text (a native id): its signature is computed afresh, no collision
    edited = {**old, "d1": old["d1"] + " Edited.", "n": other}
    _, _, removed = _run_ids(tmp_path, edited, unverified, reference, name="v3")
    assert removed.height == 0


def test_kept_signatures_are_written_for_the_next_run(tmp_path, rng):
    result, kept, _ = _run(tmp_path, [document(rng, 10) for _ in range(4)])
    sig = pl.read_parquet(result.signatures)
    assert sig.get_column("doc_id").to_list() == kept.get_column("doc_id").to_list()
    assert np.vstack(sig.get_column("signature").to_numpy()).shape == (4, 128)


def test_output_does_not_depend_on_workers_memory_or_verification_slices(tmp_path, rng, monkeypatch):
    from refinery.defs.refine.resources import TuningResource
    from refinery.runtime.tuning import Sizes, Tuning

    monkeypatch.setenv("REFINERY_WORKERS", "3")
    monkeypatch.setenv("REFINERY_DUCKDB_MEMORY", "64MB")
    monkeypatch.setenv("REFINERY_SIZES", "verify_pairs=3, dedup_rows=7")
    assert TuningResource.from_env().tuning() == Tuning(3, "64MB", Sizes(verify_pairs=3, dedup_rows=7))
    texts = [document(rng, 8) for _ in range(30)]
    texts += [t + " And one more line." for t in texts[:10]] + texts[:5]
    path = tmp_path / "in.parquet"
    ingested_frame(texts).write_parquet(path)
    results = []
    # 3: every few candidate pairs a slice, each verified by a shard (on 3 workers: at once)
    # and the last: components by partitioned star rounds (component_pairs=1), not in one task
    configs = [(1, "64MB", 3, None), (3, "1GB", Sizes().verify_pairs, None), (3, "1GB", 3, None), (2, "1GB", 3, 1)]
    for n, (w, memory, slice_pairs, component_pairs) in enumerate(configs):
        sizes = Sizes(
            verify_pairs=slice_pairs, dedup_rows=7 + n, component_pairs=component_pairs or Sizes().component_pairs
        )
        results.append(deduplicate([path], tmp_path / f"run{n}", DEFAULT, tuning=Tuning(w, memory, sizes)))
    first, *others = [(r.kept, r.removed, r.signatures) for r in results]
    for other in others:
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(first, other, strict=True))
    assert results[0].removed_by_reason == {"exact_duplicate": 5, "near_duplicate": 10}


@settings(max_examples=40, deadline=None)
@given(
    edges=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=150),
    partitions=st.integers(1, 5),
)
def test_partitioned_star_components_equal_the_single_task_ones(tmp_path_factory, edges, partitions):
    """Any graph: the large-star/small-star rounds over hash partitions give every node the cluster scipy's
    connected components give it (the smallest idx of its component)."""
    from refinery.dedup.lsh import components
    from refinery.dedup.stars import star_components

    pairs = {(min(a, b), max(a, b)) for a, b in edges if a != b}
    assume(pairs)
    frame = pl.DataFrame(sorted(pairs), schema={"a": pl.Int64, "b": pl.Int64}, orient="row")
    folder = tmp_path_factory.mktemp("stars")
    frame.write_parquet(folder / "pairs.parquet")
    ours = star_components([folder / "pairs.parquet"], folder / "work", Engine(workers=2), partitions)
    assert ours.equals(components(frame).sort("idx"))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4), st.integers(0, 40)), min_size=1, max_size=120))
def test_candidate_edges_grow_with_the_members_and_join_every_bucket(rows):
    """Any band buckets: each bucket of k members gives at most k - 1 edges, so the edges never outnumber the
    (band, document) rows, however large the buckets; and the edges join each bucket's members as all its pairs
    would (the same connected components), so no candidate is lost to the bound."""
    from itertools import combinations

    from refinery.dedup.lsh import _star_edges, components

    frame = pl.DataFrame(rows, schema={"band": pl.Int16, "key": pl.UInt64, "idx": pl.Int64}, orient="row")
    frame = frame.unique(["band", "idx"]).sort("band", "key", "idx")  # a document is in one bucket per band
    packed = _star_edges(*(frame.get_column(c).to_numpy() for c in ("band", "key", "idx")))
    edges = pl.DataFrame({"a": (packed >> np.uint64(32)).astype(np.int64), "b": (packed & np.uint64(0xFFFFFFFF))})
    buckets = frame.group_by("band", "key").agg("idx").get_column("idx").to_list()
    assert edges.height <= sum(len(members) - 1 for members in buckets)
    every_pair = {(min(a, b), max(a, b)) for members in buckets for a, b in combinations(members, 2)}
    expected = pl.DataFrame(sorted(every_pair), schema={"a": pl.Int64, "b": pl.Int64}, orient="row")
    assert components(edges.cast(pl.Int64)).sort("idx").equals(components(expected).sort("idx"))


def _deduplicate_where(path, out, engine):
    return os.getpid(), deduplicate([path], out, DEFAULT, engine=engine)


def test_isolated_dedup_runs_in_a_process_of_its_own_and_counts_its_shards_here(tmp_path, rng):
    texts = [document(rng, 8) for _ in range(30)] + [document(rng, 8)] * 3
    path = tmp_path / "in.parquet"
    ingested_frame(texts).write_parquet(path)
    here, there = Engine(2), Engine(2)
    pid_here, in_process = here.isolated(partial(_deduplicate_where, path, tmp_path / "here"), small=True)
    pid_there, isolated = there.isolated(partial(_deduplicate_where, path, tmp_path / "there"))
    assert pid_here == os.getpid() != pid_there
    for a, b in [(in_process.kept, isolated.kept), (in_process.removed, isolated.removed)]:
        assert a.read_bytes() == b.read_bytes()
    assert isolated.removed_by_reason == {"exact_duplicate": 2}
    assert there.tasks == here.tasks and sum(there.tasks.values()) > 0


def test_a_memory_limit_or_sizes_that_cannot_be_used_fail_the_run_at_start(
    tmp_path, monkeypatch, small_recipe, write_recipe, dagster_home, capsys
):
    """`512M` is DuckDB's spelling too: it once passed the start and failed mid-run where a share of it was
    computed; a value DuckDB cannot read is an error before anything runs."""
    from refinery.cli import main
    from refinery.dedup.lsh import _share_of

    assert _share_of("512M", 2) == _share_of("512MB", 2)
    assert abs(int(_share_of("512M", 2).removesuffix("B")) - 256e6) < 1e5  # DuckDB's M is 10**6
    recipe = str(write_recipe(small_recipe))
    monkeypatch.setenv("REFINERY_DUCKDB_MEMORY", "lots")
    assert main(["run", "--recipe", recipe]) == 2
    assert "duckdb_memory: 'lots'" in capsys.readouterr().out
    monkeypatch.delenv("REFINERY_DUCKDB_MEMORY")
    for sizes, said in [("clean_rows=many", "'clean_rows=many'"), ("clean_rows=0", "clean_rows=0: at least 1")]:
        monkeypatch.setenv("REFINERY_SIZES", sizes)
        assert main(["run", "--recipe", recipe]) == 2
        assert said in capsys.readouterr().out
    assert not (tmp_path / "refined" / ".staging").exists()  # nothing ran
