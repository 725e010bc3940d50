import numpy as np
import polars as pl

from refinery.dedup import Reference, deduplicate
from refinery.recipe import Dedup, NearDedup
from refinery.synth import document
from refinery_tests.conftest import ingested_frame

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
    assert verified.params["verified_pairs"] < verified.params["candidate_pairs"]
    assert sum(verified.removed_by_reason.values()) < sum(unverified.removed_by_reason.values())


def test_incremental_dedup_against_previous_version_reuses_signatures(tmp_path, rng):
    old_texts = [document(rng, 14) for _ in range(5)]
    first, _, _ = _run(tmp_path, old_texts, name="v1", prefix="old")
    reference = Reference([first.kept], first.signatures)
    new_texts = [old_texts[1] + " Thanks again to everyone who replied here.", document(rng, 14), old_texts[2]]
    _, kept, removed = _run(tmp_path, new_texts, reference=reference, name="v2", prefix="new")
    assert kept.get_column("doc_id").to_list() == ["new1"]
    rows = {r["doc_id"]: r for r in removed.to_dicts()}
    assert rows["new0"]["duplicate_of"] == "old1" and rows["new0"]["reason"] == "near_duplicate"
    assert rows["new2"]["duplicate_of"] == "old2" and rows["new2"]["reason"] == "exact_duplicate"

    # stored signatures are used as they are: a forged one for old3 that equals new1's makes them collide
    signatures = pl.read_parquet(first.signatures)
    new1_sig = pl.read_parquet(tmp_path / "v2" / "signatures.parquet").filter(pl.col("doc_id") == "new1")
    forged = pl.concat([signatures.filter(pl.col("doc_id") != "old3"), new1_sig.with_columns(doc_id=pl.lit("old3"))])
    forged.write_parquet(tmp_path / "forged.parquet")
    _, _, removed = _run(
        tmp_path,
        new_texts,
        Dedup(near=NearDedup(verify=False)),
        Reference([first.kept], tmp_path / "forged.parquet"),
        name="v3",
        prefix="new",
    )
    assert "new1" in removed.get_column("doc_id").to_list()


def test_kept_signatures_are_written_for_the_next_run(tmp_path, rng):
    result, kept, _ = _run(tmp_path, [document(rng, 10) for _ in range(4)])
    sig = pl.read_parquet(result.signatures)
    assert sig.get_column("doc_id").to_list() == kept.get_column("doc_id").to_list()
    assert np.vstack(sig.get_column("signature").to_numpy()).shape == (4, 128)
