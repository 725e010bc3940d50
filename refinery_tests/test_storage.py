"""Ore and output named by URI: objects in S3 read and written through fsspec. The server is moto's standalone
S3 (`conftest.s3_endpoint`): a stand-in for the protocol (a deployment points `AWS_ENDPOINT_URL` at MinIO, or
leaves it unset for AWS S3)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import fsspec
import polars as pl
import pytest

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.defs.refine import recipe_definitions
from refinery.defs.refine.ore import ore_state
from refinery.errors import VerifyError
from refinery.instance import get_instance
from refinery.recipe import load_recipe
from refinery.storage import sha256
from refinery_tests.conftest import s3_environment
from refinery_tests.synth import document


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """Credentials and endpoint as a deployment sets them: in the environment, which workers inherit."""
    for key, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    for bucket in ("ore-bucket", "out-bucket"):
        fs.mkdir(bucket)
    yield fs
    for bucket in ("ore-bucket", "out-bucket"):
        fs.rm(bucket, recursive=True)
    fsspec.filesystem("s3").invalidate_cache()


def test_ore_in_s3_refines_like_the_same_ore_on_disk(small_recipe, small_ore, write_recipe, dagster_home, s3, capsys):
    s3.put(str(small_ore / "forums" / "posts.jsonl"), "ore-bucket/forums/2026/posts.jsonl")
    s3.put(str(small_ore / "csv" / "export.csv"), "ore-bucket/csv/export.csv")
    local = write_recipe(small_recipe, "local.yaml")
    remote_recipe = {**small_recipe, "dataset": "remote"}
    remote_recipe["sources"] = [
        {**small_recipe["sources"][0], "path": "s3://ore-bucket/forums/**/*.jsonl"},
        {**small_recipe["sources"][1], "path": "s3://ore-bucket/csv/*.csv"},
    ]
    remote = write_recipe(remote_recipe, "remote.yaml")
    assert main(["run", "--recipe", str(local)]) == 0
    assert main(["run", "--recipe", str(remote)]) == 0
    catalog = Catalog(local.parent / "refined")
    on_disk, in_s3 = catalog.version("small"), catalog.version("remote")
    in_s3.verify()
    columns = ["source_id", "text", "line"]
    assert in_s3.scan().select(columns).collect().equals(on_disk.scan().select(columns).collect())
    removed = ["source", "reason", "line"]  # a record without an id of its own is named by its file's URI
    assert in_s3.removed().select(removed).collect().equals(on_disk.removed().select(removed).collect())
    uris = set(in_s3.scan().select("source_uri").collect().get_column("source_uri"))
    assert uris == {"s3://ore-bucket/forums/2026/posts.jsonl", "s3://ore-bucket/csv/export.csv"}
    ore = {o["path"]: o for o in in_s3.manifest["ore"]}
    assert ore["s3://ore-bucket/csv/export.csv"]["sha256"] == sha256(small_ore / "csv" / "export.csv")
    assert in_s3.manifest["counts"]["read"] == on_disk.manifest["counts"]["read"]


def test_an_edited_object_changes_the_ore_fingerprint(small_recipe, small_ore, write_recipe, s3):
    s3.put(str(small_ore / "csv" / "export.csv"), "ore-bucket/csv/export.csv")
    recipe_data = {**small_recipe, "sources": [{**small_recipe["sources"][1], "path": "s3://ore-bucket/csv/*.csv"}]}
    recipe = load_recipe(write_recipe(recipe_data))
    before = ore_state(recipe, recipe.sources[0])[0]
    assert ore_state(recipe, recipe.sources[0])[0] == before
    s3.pipe("ore-bucket/csv/export.csv", (small_ore / "csv" / "export.csv").read_bytes() + b'c100,"one more"\n')
    assert ore_state(recipe, recipe.sources[0])[0] != before


def test_unreachable_ore_is_a_recipe_error_and_a_missing_object_is_quarantined(small_recipe, write_recipe, s3, capsys):
    missing = {**small_recipe, "sources": [{**small_recipe["sources"][1], "path": "s3://no-such-bucket/*.csv"}]}
    assert main(["run", "--recipe", str(write_recipe(missing))]) == 2
    said = capsys.readouterr()
    assert "s3://no-such-bucket/*.csv" in said.out and "Traceback" not in said.out + said.err

    from refinery.ingest import ingest_source
    from refinery.ingest.config import Source

    recipe = load_recipe(write_recipe({**small_recipe, "sources": [small_recipe["sources"][1]]}))
    gone = "s3://ore-bucket/csv/gone.csv"
    result = ingest_source(recipe.sources[0], recipe.base_dir, recipe.base_dir / "ingested", [gone])
    quarantined = pl.read_parquet(result.quarantine)
    assert quarantined.get_column("reason").to_list() == ["unreadable_file"]
    assert quarantined.get_column("source_uri").to_list() == [gone]
    pages = Source(name="pages", format="html", path="s3://ore-bucket/pages/*.html")  # read in groups of files
    result = ingest_source(pages, recipe.base_dir, recipe.base_dir / "pages", ["s3://ore-bucket/pages/gone.html"])
    assert pl.read_parquet(result.quarantine).get_column("reason").to_list() == ["unreadable_file"]


def test_versions_published_to_s3_verify_and_load_there(small_recipe, write_recipe, dagster_home, s3, capsys):
    recipe_path = write_recipe({**small_recipe, "output": "s3://out-bucket/refined"})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert "Uploaded to: s3://out-bucket/refined/small/" in capsys.readouterr().out.replace("\n", "")
    local = Catalog(recipe_path.parent / ".refinery-publish").version("small")
    remote = Catalog("s3://out-bucket/refined").version("small")
    assert remote.id == local.id and s3.cat("out-bucket/refined/small/LATEST").decode().strip() == local.id
    remote.verify()
    assert remote.scan().collect().equals(local.scan().collect())
    assert remote.to_arrow().num_rows == local.manifest["counts"]["refined"]
    with duckdb.connect() as con:
        view = remote.to_duckdb(con)
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] == local.manifest["counts"]["refined"]
    assert main(["verify", f"small@{remote.id}", "--root", "s3://out-bucket/refined"]) == 0

    # an upload cut short (no manifest yet) is no version to readers, and the next publish completes it
    s3.rm(f"out-bucket/refined/small/{remote.id}/manifest.json")
    assert remote.id not in Catalog("s3://out-bucket/refined").versions("small")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    Catalog("s3://out-bucket/refined").version("small").verify()

    # an object changed after publishing is caught
    part = f"out-bucket/refined/small/{remote.id}/part-00000.parquet"
    s3.pipe(part, s3.cat(part)[:-9] + b"corrupted")
    with pytest.raises(VerifyError, match="sha256 mismatch"):
        Catalog("s3://out-bucket/refined").version("small").verify()


def test_a_gate_failure_uploads_nothing(small_recipe, write_recipe, dagster_home, s3):
    impossible = {
        "expectation": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "source", "value_set": ["elsewhere"]},
        "severity": "error",
    }
    recipe = {**small_recipe, "output": "s3://out-bucket/refined", "validate": {"expectations": [impossible]}}
    assert main(["run", "--recipe", str(write_recipe(recipe))]) == 1
    assert s3.find("out-bucket") == []


def test_a_publisher_without_its_local_folder_goes_on_from_the_object_stores_latest(
    small_recipe, small_ore, write_recipe, dagster_home, s3, rng
):
    recipe_path = write_recipe({**small_recipe, "output": "s3://out-bucket/refined"})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    first = Catalog("s3://out-bucket/refined").version("small")
    shutil.rmtree(recipe_path.parent / ".refinery-publish")  # a new machine, or a lost volume

    recipe = load_recipe(recipe_path)  # deduplicating reads LATEST but does not write to the store: publishing does
    job = recipe_definitions(recipe).resolve_job_def("refine_small")
    up_to_dedup = {dg.AssetKey(["small", k]) for k in ("ingested_forums", "ingested_export", "deduplicated")}
    assert job.get_subset(asset_selection=up_to_dedup).execute_in_process(instance=get_instance()).success
    assert not (recipe_path.parent / ".refinery-publish" / "small" / "LATEST").exists()
    assert (recipe_path.parent / ".refinery-cache" / "small" / "LATEST").read_text().strip() == first.id

    assert main(["run", "--recipe", str(recipe_path)]) == 0  # the same ore: LATEST's data, so no new version
    assert Catalog("s3://out-bucket/refined").versions("small") == [first.id]

    with open(small_ore / "forums" / "posts.jsonl", "a") as fh:
        fh.write(json.dumps({"post_id": "p-new", "body": document(rng)}) + "\n")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    second = Catalog("s3://out-bucket/refined").version("small")
    assert second.id != first.id and second.manifest["parent"] == first.id
    kept = set(first.scan().select("doc_id").collect().get_column("doc_id"))
    assert kept < set(second.scan().select("doc_id").collect().get_column("doc_id"))


def _machine(tmp_path: Path, name: str, recipe: dict, ore: Path) -> Path:
    """The recipe as a machine of its own has it: its own folder, so its own local publish folder."""
    sources = [{**s, "path": str(ore.parent / s["path"])} for s in recipe["sources"]]
    data = {**recipe, "output": "s3://out-bucket/refined", "ore_roots": [str(ore)], "sources": sources}
    (tmp_path / name).mkdir()
    path = tmp_path / name / "recipe.yaml"
    path.write_text(json.dumps(data))
    return path


def _publish_from_machine_b(recipe_path: Path) -> None:
    """A whole run on "machine B": another process, Dagster instance and publish folder, the same output URI."""
    env = {**os.environ, "DAGSTER_HOME": str(recipe_path.parent / "dagster_home")}
    done = subprocess.run([sys.executable, "-m", "refinery.cli", "run", "--recipe", str(recipe_path)], env=env)
    assert done.returncode == 0


@pytest.mark.parametrize(
    ("moment", "message"),
    [
        ("while A cleans", "another run published in between"),
        ("just before A's LATEST is written", "this version was withdrawn"),
    ],
)
def test_publishers_on_two_machines_never_build_on_data_they_did_not_see(
    small_recipe, small_ore, tmp_path, dagster_home, s3, rng, monkeypatch, capsys, moment, message
):
    """Machine B publishes while machine A is running. A refuses to publish (at its publish step, or at its
    conditional write of LATEST, when B came later than A's check) and withdraws what it uploaded; B's version
    stays LATEST, and A's next run builds on it."""
    import refinery.clean
    from refinery.publish import stage

    a = _machine(tmp_path, "a", small_recipe, small_ore)
    b = _machine(tmp_path, "b", {**small_recipe, "description": "machine B"}, small_ore)
    assert main(["run", "--recipe", str(a)]) == 0
    first = Catalog("s3://out-bucket/refined").version("small").id
    with open(small_ore / "forums" / "posts.jsonl", "a") as fh:
        fh.write(json.dumps({"post_id": "p-new", "body": document(rng)}) + "\n")

    def b_first(call):
        def wrapped(*args, **kwargs):
            _publish_from_machine_b(b)
            return call(*args, **kwargs)

        return wrapped

    if moment == "while A cleans":
        monkeypatch.setattr(refinery.clean, "clean", b_first(refinery.clean.clean))
    else:
        monkeypatch.setattr(stage, "upload", b_first(stage.upload))
    assert main(["run", "--recipe", str(a)]) == 1
    monkeypatch.undo()
    stored = Catalog("s3://out-bucket/refined")
    by_b = stored.version("small")
    assert by_b.manifest["recipe"]["description"] == "machine B" and by_b.manifest["parent"] == first
    assert stored.versions("small") == sorted([first, by_b.id])  # nothing of A's run is left in the store
    assert message in capsys.readouterr().out.replace("\n", " ")

    assert main(["run", "--recipe", str(a)]) == 0
    after = Catalog("s3://out-bucket/refined").version("small")
    assert after.manifest["parent"] == by_b.id
    assert Catalog(a.parent / ".refinery-publish").version("small").id == after.id


def test_each_ore_object_is_fetched_once(small_recipe, small_ore, write_recipe, dagster_home, s3, monkeypatch):
    """The shard that reads an object also counts its records (accounting) and hashes it (manifest) from the same
    copy: one download per object and run."""
    import s3fs

    s3.put(str(small_ore / "forums" / "posts.jsonl"), "ore-bucket/forums/posts.jsonl")
    s3.put(str(small_ore / "csv" / "export.csv"), "ore-bucket/csv/export.csv")
    remote = {**small_recipe, "dataset": "remote"}
    remote["sources"] = [
        {**small_recipe["sources"][0], "path": "s3://ore-bucket/forums/*.jsonl"},
        {**small_recipe["sources"][1], "path": "s3://ore-bucket/csv/*.csv"},
    ]
    opened: list[str] = []
    real_open = s3fs.S3FileSystem._open

    def counting_open(self, path, *args, **kwargs):
        opened.append(path)
        return real_open(self, path, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_open", counting_open)
    assert main(["run", "--recipe", str(write_recipe(remote))]) == 0
    assert sorted(opened) == ["ore-bucket/csv/export.csv", "ore-bucket/forums/posts.jsonl"]
    manifest = Catalog(write_recipe(remote).parent / "refined").version("remote").manifest
    assert {o["path"]: o["sha256"] for o in manifest["ore"]} == {
        "s3://ore-bucket/forums/posts.jsonl": sha256(small_ore / "forums" / "posts.jsonl"),
        "s3://ore-bucket/csv/export.csv": sha256(small_ore / "csv" / "export.csv"),
    }


def test_a_version_in_s3_is_read_by_trainers_from_one_checked_local_copy(
    small_recipe, write_recipe, dagster_home, s3, tmp_path, monkeypatch
):
    """The loader of a version in object storage reads a local copy: made once (a second reader in a new catalog
    downloads nothing), each file's bytes those the manifest hashed (hashed here again with hashlib), the same rows
    as the version read in place. An object corrupted before the copy is refused, and leaves no copy behind."""
    import hashlib

    monkeypatch.setenv("REFINERY_CACHE", str(tmp_path / "cache"))
    recipe_path = write_recipe({**small_recipe, "output": "s3://out-bucket/refined"})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    remote = Catalog("s3://out-bucket/refined").version("small")
    rows = pl.concat(list(remote.loader(columns=["doc_id", "text"], seed=4)))
    assert sorted(rows.get_column("doc_id")) == sorted(remote.scan().select("doc_id").collect().get_column("doc_id"))
    copy = tmp_path / "cache" / "small" / remote.id
    for entry in remote.manifest["files"]:
        assert hashlib.sha256((copy / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], entry["path"]
    stamps = {p: p.stat().st_mtime_ns for p in copy.rglob("*")}
    again = pl.concat(
        list(Catalog("s3://out-bucket/refined").version("small").loader(columns=["doc_id", "text"], seed=4))
    )
    assert again.equals(rows) and {p: p.stat().st_mtime_ns for p in copy.rglob("*")} == stamps

    part = f"out-bucket/refined/small/{remote.id}/part-00000.parquet"
    s3.pipe(part, s3.cat(part)[:-9] + b"corrupted")  # the same size: only the hash can tell
    fresh = tmp_path / "fresh"
    with pytest.raises(VerifyError, match=r"sha256 mismatch as downloaded: part-00000\.parquet"):
        Catalog("s3://out-bucket/refined").version("small").loader(cache_dir=fresh)
    assert not (fresh / "small" / remote.id).exists() and not list((fresh / "small").glob(".*"))
