"""Versions over time, through Dagster on a real instance: identity across ore edits, the gate bound to the data,
accounting that fails, versions that say what changed."""

import json
import random
import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.defs.refine import recipe_definitions
from refinery.defs.refine.handles import Cleaned
from refinery.errors import NotFoundError, PublishError, RecipeError, VerifyError
from refinery.instance import get_instance
from refinery.publish.gate import require_passed
from refinery.recipe import load_recipe
from refinery_tests.synth import document


def _run(recipe_path) -> int:
    return main(["run", "--recipe", str(recipe_path)])


def test_edited_ore_keeps_every_unchanged_document(small_recipe, write_recipe, small_ore, dagster_home):
    """The reported failure: one post inserted as the first line renamed every post below it, and the previous
    version's copies then removed them as duplicates (2,416 refined became 1,592)."""
    forums = {**small_recipe["sources"][0]}
    del forums["id_field"]  # identity by content, the case that broke
    recipe_path = write_recipe({**small_recipe, "sources": [forums, small_recipe["sources"][1]]})
    cat = Catalog(recipe_path.parent / "refined")
    assert _run(recipe_path) == 0
    first = cat.version("small")
    posts = small_ore / "forums" / "posts.jsonl"
    lines = posts.read_text().splitlines()
    fresh = document(random.Random(99))
    posts.write_text("\n".join([json.dumps({"post_id": "new", "body": fresh}), *lines]) + "\n")
    assert _run(recipe_path) == 0
    second = cat.version("small")
    diff = cat.diff("small", first.id, second.id)
    assert len(diff["added"]) == 1 and diff["removed"] == []
    assert second.manifest["counts"]["refined"] == first.manifest["counts"]["refined"] + 1

    # renamed and split under the same glob: the same documents
    posts.unlink()
    (small_ore / "forums" / "b.jsonl").write_text("\n".join(lines[:50]) + "\n")
    (small_ore / "forums" / "a.jsonl").write_text("\n".join(lines[50:]) + "\n")
    assert _run(recipe_path) == 0
    third = cat.version("small")
    assert cat.diff("small", first.id, third.id)["removed"] == []
    assert third.manifest["counts"]["refined"] == first.manifest["counts"]["refined"]

    # one word of one post edited: that post is replaced, not lost as a duplicate of its old self
    kept = third.scan().filter(pl.col("source") == "forums").collect().row(0, named=True)
    for name in ("a.jsonl", "b.jsonl"):
        path = small_ore / "forums" / name
        text = path.read_text()
        old = json.dumps(kept["text"])[1:-1]
        path.write_text(text.replace(old, old.replace(" ", " really ", 1)))
    assert _run(recipe_path) == 0
    fourth = cat.version("small")
    diff = cat.diff("small", third.id, fourth.id)
    assert diff["removed"] == [kept["doc_id"]] and diff["why_removed"] == {kept["doc_id"]: "ore gone"}
    assert len(diff["added"]) == 1


def _materialize_published_alone(recipe_path) -> dg.ExecuteInProcessResult:
    """What the UI's "Materialize selected" does: `published` alone, in a new run."""
    defs = recipe_definitions(load_recipe(recipe_path))
    return dg.materialize(
        [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)],
        selection="small/published",
        instance=get_instance(),
        resources=defs.resources,
        raise_on_error=False,
    )


def _failure_messages(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(
        (e.event_specific_data.error.cause or e.event_specific_data.error).message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    )


def test_published_alone_after_a_failed_gate_publishes_nothing(small_recipe, write_recipe, dagster_home):
    recipe_path = write_recipe(small_recipe)
    assert _run(recipe_path) == 0
    cat = Catalog(recipe_path.parent / "refined")
    good = cat.version("small").id
    impossible = {
        "expectation": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "source", "value_set": ["elsewhere"]},
    }
    write_recipe({**small_recipe, "description": "changed", "validate": {"expectations": [impossible]}})
    assert _run(recipe_path) == 1
    result = _materialize_published_alone(recipe_path)
    assert not result.success
    assert "refusing to publish: check 'gx_suite' failed" in _failure_messages(result)
    assert cat.version("small").id == good and cat.versions("small") == [good]


def test_published_alone_refuses_staged_files_changed_after_the_checks(small_recipe, write_recipe, dagster_home):
    recipe_path = write_recipe({**small_recipe, "publish": {"max_drop": None}})
    assert _run(recipe_path) == 0
    cat = Catalog(recipe_path.parent / "refined")
    good = cat.version("small")
    staged = recipe_path.parent / "refined" / ".staging" / "small" / good.manifest["dagster_run_id"]
    cleaned = staged / "cleaned" / "cleaned.parquet"
    pl.read_parquet(cleaned).head(3).write_parquet(cleaned)
    result = _materialize_published_alone(recipe_path)  # the handle it loads no longer matches the file
    assert f"cleaned: staged file {cleaned} changed after it was written" in _failure_messages(result)
    assert cat.versions("small") == [good.id]
    handle = json.loads(next((dagster_home / "storage" / "handles").rglob("small__cleaned.json")).read_text())
    files = Cleaned.model_validate({k: v for k, v in handle.items() if k != "kind"}).staged
    with pytest.raises(PublishError, match="the staged files changed after check 'gx_suite' judged them"):
        require_passed(staged / "cleaned" / "gate", files)  # what publishing checks first, however it is reached


@pytest.mark.parametrize("fault", ["lost", "doubled"])
def test_accounting_sees_a_lost_or_doubled_record_and_blocks_publishing(
    fault, small_recipe, write_recipe, dagster_home, monkeypatch, capsys
):
    import refinery.clean as cleaning

    real = cleaning.clean

    def faulty(*args, **kwargs):
        result = real(*args, **kwargs)
        frame = pl.read_parquet(result.cleaned)
        frame = frame.slice(1) if fault == "lost" else pl.concat([frame, frame.tail(1)])
        frame.write_parquet(result.cleaned)
        return result

    monkeypatch.setattr(cleaning, "clean", faulty)
    recipe_path = write_recipe(small_recipe)
    assert _run(recipe_path) == 1
    out = capsys.readouterr().out
    assert "accounting" in out and "nothing was published" in out
    assert "but the ore holds 153 records" in out
    assert not (recipe_path.parent / "refined" / "small" / "LATEST").exists()


def test_a_recipe_change_makes_a_version_that_says_the_data_is_unchanged(small_recipe, write_recipe, dagster_home):
    recipe_path = write_recipe(small_recipe)
    assert _run(recipe_path) == 0
    cat = Catalog(recipe_path.parent / "refined")
    first = cat.version("small")
    assert first.manifest["data_unchanged"] is False
    write_recipe({**small_recipe, "description": "Now with a description."})
    assert _run(recipe_path) == 0
    second = cat.version("small")
    assert second.id != first.id and second.manifest["parent"] == first.id
    assert second.manifest["content_hash"] == first.manifest["content_hash"]
    assert second.manifest["data_unchanged"] is True
    assert "Now with a description." in (second.path / "DATACARD.md").read_text()
    assert second.manifest["code_version"]["source_sha256"] == first.manifest["code_version"]["source_sha256"]
    kinds = {f["path"]: f["kind"] for f in second.manifest["files"]}
    assert kinds["DATACARD.md"] == "datacard" and "validation/summary.json" in kinds
    second.verify()
    (second.path / "DATACARD.md").write_text("# edited\n")
    with pytest.raises(VerifyError, match=r"DATACARD\.md: sha256 mismatch"):
        second.verify()


def test_snapshot_drops_documents_whose_ore_is_gone_and_append_keeps_them(
    small_recipe, write_recipe, small_ore, dagster_home
):
    drops = small_ore / "drops"
    drops.mkdir()
    rng = random.Random(5)
    day1 = [document(rng) for _ in range(4)]
    (drops / "day1.jsonl").write_text("\n".join(json.dumps({"body": t}) for t in day1) + "\n")
    source = {"name": "drops", "format": "jsonl", "path": "ore/drops/*.jsonl", "text_field": "body", "license": "x"}
    results = {}
    for mode in ("snapshot", "append"):
        recipe = {**small_recipe, "dataset": mode, "sources": [source], "publish": {"mode": mode, "max_drop": None}}
        results[mode] = write_recipe(recipe, f"{mode}.yaml")
        assert _run(results[mode]) == 0
    (drops / "day1.jsonl").unlink()
    (drops / "day2.jsonl").write_text(json.dumps({"body": document(rng)}) + "\n" + json.dumps({"body": day1[0]}))
    cat = Catalog(small_ore.parent / "refined")
    for mode in ("snapshot", "append"):
        assert _run(results[mode]) == 0
    first, second = cat.versions("snapshot")
    diff = cat.diff("snapshot", first, second)
    assert len(diff["removed"]) == 3 and set(diff["why_removed"].values()) == {"ore gone"}
    gone = diff["removed"][0]
    assert cat.holder("snapshot", gone) == first  # lineage finds it in the version that still holds it
    appended = cat.version("append").scan().collect()
    assert set(appended.get_column("text")) >= set(day1) and appended.height == 5


def test_ore_with_nothing_usable_publishes_nothing(write_recipe, tmp_path, dagster_home, capsys):
    (tmp_path / "ore").mkdir()
    (tmp_path / "ore" / "junk.jsonl").write_bytes(b"\xff\xfe\x00garbage\n{not json\n")
    source = {"name": "junk", "format": "jsonl", "path": "ore/*.jsonl", "text_field": "body", "license": "x"}
    recipe_path = write_recipe({"dataset": "small", "output": "refined", "sources": [source]})
    assert _run(recipe_path) == 1
    out = capsys.readouterr().out
    assert "refusing to publish: 0 refined documents" in out and "Traceback" not in out
    assert not (tmp_path / "refined" / "small" / "LATEST").exists()


def test_a_version_that_lost_most_of_its_parent_is_refused(small_recipe, write_recipe, small_ore, dagster_home, capsys):
    recipe_path = write_recipe(small_recipe)
    assert _run(recipe_path) == 0
    first = Catalog(recipe_path.parent / "refined").version("small").id
    posts = small_ore / "forums" / "posts.jsonl"
    posts.write_text("\n".join(posts.read_text().splitlines()[:10]) + "\n")
    assert _run(recipe_path) == 1
    assert "more than publish.max_drop 50%" in capsys.readouterr().out
    assert Catalog(recipe_path.parent / "refined").version("small").id == first
    write_recipe({**small_recipe, "publish": {"max_drop": None}})
    assert _run(recipe_path) == 0  # allowed by the recipe


def test_the_manifest_hashes_the_ore_bytes_that_were_read(
    small_recipe, write_recipe, small_ore, dagster_home, monkeypatch
):
    """Ore rewritten while the run is cleaning: the manifest still names the bytes the run refined (hashed by the
    shard that read them), not the file as it is at publishing."""
    import refinery.clean
    from refinery.hashing import sha256_file

    posts = small_ore / "forums" / "posts.jsonl"
    read = sha256_file(posts)
    real_clean = refinery.clean.clean

    def rewrite_then_clean(*args, **kwargs):
        posts.write_text(posts.read_text() + json.dumps({"post_id": "late", "body": "arrived too late"}) + "\n")
        return real_clean(*args, **kwargs)

    monkeypatch.setattr(refinery.clean, "clean", rewrite_then_clean)
    recipe_path = write_recipe(small_recipe)
    assert _run(recipe_path) == 0
    ore = {o["path"]: o for o in Catalog(recipe_path.parent / "refined").version("small").manifest["ore"]}
    assert ore["ore/forums/posts.jsonl"]["sha256"] == read != sha256_file(posts)


def test_code_version_covers_what_changes_output_and_nothing_else(tmp_path, monkeypatch):
    """Test-data generators and the CLI's printing are not the code that makes a version; the package's stages,
    the releases of the libraries that write the bytes and the language-ID model are."""
    import importlib.metadata
    import shutil

    from refinery import hashing

    package = tmp_path / "refinery"
    shutil.copytree(hashing.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(hashing, "PACKAGE_DIR", package)
    measure = hashing.source_hash.__wrapped__
    before = measure()
    with open(package / "cli.py", "a") as fh:
        fh.write("\n# reworded\n")
    assert measure() == before
    with open(package / "dedup" / "stage.py", "a") as fh:
        fh.write("\n# changed\n")
    changed = measure()
    assert changed != before
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda n: "0.0.1" if n == "polars" else real(n))
    assert measure() != changed
    monkeypatch.setattr(importlib.metadata, "version", real)
    monkeypatch.setattr(hashing, "LID_MODEL", "__init__.py")  # other bytes where the model was
    assert measure() != changed


def test_splits_by_identity_hold_across_versions(small_recipe, write_recipe, small_ore, dagster_home, rng):
    """Every refined document gets a split from its id and the seed: the same split in the next version, counts
    per split in the manifest (as the files hold them) and in the datacard, and `scan(split=...)` reads one."""
    splits = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 7}
    recipe_path = write_recipe({**small_recipe, "splits": splits, "publish": {"max_drop": None}})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    catalog = Catalog(recipe_path.parent / "refined")
    first = catalog.version("small")
    with open(small_ore / "forums" / "posts.jsonl", "a") as fh:
        fh.write(json.dumps({"post_id": "late", "body": document(rng)}) + "\n")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    second = catalog.version("small")
    assert second.id != first.id
    before, after = (dict(v.scan().select("doc_id", "split").collect().iter_rows()) for v in (first, second))
    assert before.items() <= after.items()  # a document keeps its split
    counted = second.scan().group_by("split").len().collect()
    assert second.manifest["counts"]["splits"] == dict(sorted(counted.iter_rows()))
    assert set(second.manifest["counts"]["splits"]) == {"train", "validation", "test"}
    test_ids = set(second.scan(split="test").collect().get_column("doc_id"))
    assert test_ids == {d for d, s in after.items() if s == "test"}
    with pytest.raises(NotFoundError, match="no split 'dev'"):
        second.scan(split="dev")
    ranks = [[d for b in second.loader("train", rank=r, world_size=2) for d in b["doc_id"]] for r in (0, 1)]
    train = {d for d, s in after.items() if s == "train"}
    assert len(ranks[0]) == len(ranks[1]) == len(train) // 2 and set(ranks[0] + ranks[1]) <= train
    assert "splits by identity (seed 7): test" in (second.path / "DATACARD.md").read_text()
    by_source = dict(second.scan().group_by("source").len().collect().iter_rows())  # the recipe's licences:
    assert second.manifest["counts"]["licenses"] == {  # forums CC-BY-4.0, export proprietary-internal
        "CC-BY-4.0": by_source["forums"],
        "proprietary-internal": by_source["export"],
    }
    open_only = [d for b in second.loader(licenses=["CC-BY-4.0"]) for d in b["source"]]
    assert set(open_only) == {"forums"} and len(open_only) == by_source["forums"]
    assert "| proprietary-internal |" in (second.path / "DATACARD.md").read_text()
    other_seed = write_recipe({**small_recipe, "output": "reseeded", "splits": {**splits, "seed": 8}}, "reseeded.yaml")
    assert main(["run", "--recipe", str(other_seed)]) == 0
    reseeded = dict(
        Catalog(recipe_path.parent / "reseeded").version("small").scan().select("doc_id", "split").collect().iter_rows()
    )
    assert reseeded != before  # the seed, not the order of the rows, decides


@pytest.mark.parametrize(
    ("splits", "said"),
    [({"train": 0.9, "test": 0.2}, "add up to"), ({"Train": 1.0}, "lowercase name"), ({"seed": 1}, "at least one")],
)
def test_splits_that_cannot_be_used_are_a_recipe_error(small_recipe, write_recipe, small_ore, splits, said):
    with pytest.raises(RecipeError, match=said):
        load_recipe(write_recipe({**small_recipe, "splits": splits}))


def test_tokens_are_counted_per_document_with_the_tokenizer_the_version_keeps(small_recipe, write_recipe, dagster_home):
    """With `publish.tokens`, every refined document has `n_tokens`; the manifest's totals (overall, by split,
    source and language) add up to the column; the tokenizer (trained here: none named) is in the version, and
    encoding the texts again with it gives the same counts. A named tokenizer.json is used as it is."""
    from tokenizers import Tokenizer

    splits = {"train": 0.5, "test": 0.5}
    recipe_path = write_recipe({**small_recipe, "splits": splits, "publish": {"tokens": {"vocab_size": 512}}})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    version = Catalog(recipe_path.parent / "refined").version("small")
    version.verify()
    rows = version.scan().select("text", "n_tokens", "split", "source").collect()
    tokens = version.manifest["tokens"]
    assert tokens["total"] == rows.get_column("n_tokens").sum() > rows.height
    assert tokens["by_split"] == dict(rows.group_by("split").agg(pl.col("n_tokens").sum()).sort("split").iter_rows())
    assert sum(tokens["by_source"].values()) == sum(tokens["by_lang"].values()) == tokens["total"]
    tokenizer = Tokenizer.from_file(str(version.path / "tokenizer.json"))
    again = [len(e.ids) for e in tokenizer.encode_batch(rows.get_column("text").to_list(), add_special_tokens=False)]
    assert again == rows.get_column("n_tokens").to_list()
    assert tokenizer.get_vocab_size() == 512 and "trained" in tokens["tokenizer"]

    shutil.copy(version.path / "tokenizer.json", recipe_path.parent / "named.json")
    named = write_recipe(
        {**small_recipe, "output": "named", "publish": {"tokens": {"tokenizer": "named.json"}}}, "n.yaml"
    )
    assert main(["run", "--recipe", str(named)]) == 0
    other = Catalog(recipe_path.parent / "named").version("small")
    assert other.manifest["tokens"]["tokenizer"] == "named.json"
    assert other.manifest["tokens"]["tokenizer_sha256"] == version.manifest["tokens"]["tokenizer_sha256"]


def test_packed_token_shards_are_read_by_datatrove_and_trace_back_to_their_ore(
    small_recipe, write_recipe, dagster_home
):
    """`publish.tokenized` packs each split's documents, shuffled, an end-of-document token after each, in the
    format nanotron trains from. Read with datatrove's own `DatatroveFolderDataset`: its windows are the shard's
    tokens, its positions restart where our index says documents end, and every document's token range decodes
    to its refined text and leads back to its ore line."""
    pytest.importorskip("torch")
    from datatrove.utils.dataset import DatatroveFolderDataset
    from tokenizers import Tokenizer

    publish = {"tokens": {"vocab_size": 512}, "tokenized": {"seed": 7}}
    recipe_path = write_recipe({**small_recipe, "splits": {"train": 0.8, "test": 0.2}, "publish": publish})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    version = Catalog(recipe_path.parent / "refined").version("small")
    version.verify()
    shard = version.packed("train")
    info = version.manifest["tokenized"]["shards"]["train"]
    seq_len = 63
    dataset = DatatroveFolderDataset(
        str(shard.parent), seq_len, filename_pattern=shard.name, token_size=info["token_size"], return_positions=True
    )
    assert len(dataset) == info["tokens"] // (seq_len + 1) > 10
    windows = [dataset[i] for i in range(len(dataset))]
    tokens = np.fromfile(shard, dtype=np.uint16)
    assert np.array_equal(np.concatenate([w["input_ids"].numpy() for w in windows]), tokens[: len(windows) * 64])

    docs = pl.read_parquet(shard.with_suffix(".docs.parquet"))
    ends = set(docs.get_column("end").to_list())
    for i, window in enumerate(windows):  # datatrove's positions restart exactly at our documents' ends
        starts = {i * 64 + k for k, p in enumerate(window["positions"].tolist()) if p == 0 and k > 0}
        assert starts <= ends and {e for e in ends if i * 64 < e < (i + 1) * 64} <= starts

    tokenizer = Tokenizer.from_file(str(version.path / "tokenizer.json"))
    eos = tokenizer.token_to_id("<|endoftext|>")
    refined = version.scan(split="train").select("doc_id", "text", "source_uri", "line").collect()
    assert sorted(docs.get_column("doc_id")) == sorted(refined.get_column("doc_id"))
    assert docs.get_column("doc_id").to_list() != refined.get_column("doc_id").to_list()  # shuffled
    texts = dict(refined.select("doc_id", "text").iter_rows())
    for doc in docs.iter_rows(named=True):
        ids = tokens[doc["start"] : doc["end"]].tolist()
        assert ids[-1] == eos and eos not in ids[:-1]
        assert tokenizer.decode(ids[:-1], skip_special_tokens=False) == texts[doc["doc_id"]]
    middle = docs.row(docs.height // 2, named=True)
    origin = version.token_origin("train", (middle["start"] + middle["end"]) // 2)
    row = refined.filter(pl.col("doc_id") == middle["doc_id"]).row(0, named=True)
    assert (origin["doc_id"], origin["source_uri"], origin["line"]) == (row["doc_id"], row["source_uri"], row["line"])
