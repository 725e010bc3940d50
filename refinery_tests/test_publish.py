import json

import polars as pl

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.hashing import sha256_file
from refinery.publish import stage
from refinery.publish.stage import _write_parts
from refinery.records import REMOVED_SCHEMA
from refinery.runtime.engine import Engine


def _sources(tmp_path) -> list:
    sources = []
    for i in range(3):
        path = tmp_path / f"in-{i}.parquet"
        pl.DataFrame({"doc_id": [f"{i}-{j}" for j in range(35)], "x": list(range(35))}).write_parquet(path)
        sources.append(path)
    return sources


def test_parts_are_capped_span_files_and_report_what_was_written(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "PART_ROWS", 40)
    parts = _write_parts(_sources(tmp_path), tmp_path / "out")
    paths = [p["path"] for p in parts]
    assert [pl.read_parquet(p).height for p in paths] == [p["rows"] for p in parts] == [40, 40, 25]
    assert pl.read_parquet(paths).get_column("doc_id").to_list() == [f"{i}-{j}" for i in range(3) for j in range(35)]
    assert [p["sha256"] for p in parts] == [sha256_file(p) for p in paths]
    assert [p["bytes"] for p in parts] == [p.stat().st_size for p in paths]


def test_parts_written_by_the_engines_workers_are_the_same_bytes(tmp_path, monkeypatch):
    """Each part is a shard of the engine: its workers write the bytes this process would."""
    monkeypatch.setattr(stage, "PART_ROWS", 40)
    sources = _sources(tmp_path)
    here = _write_parts(sources, tmp_path / "here")
    engine = Engine(2)
    elsewhere = _write_parts(sources, tmp_path / "elsewhere", engine=engine)
    assert [p["sha256"] for p in elsewhere] == [p["sha256"] for p in here]
    assert engine.tasks["local"] == 3


def test_empty_input_still_gives_a_part_with_the_schema(tmp_path):
    path = tmp_path / "none.parquet"
    pl.DataFrame(schema=REMOVED_SCHEMA).write_parquet(path)
    (part,) = _write_parts([path], tmp_path / "out", REMOVED_SCHEMA)
    assert part["rows"] == 0
    assert pl.read_parquet(part["path"]).schema == pl.Schema(REMOVED_SCHEMA)


def test_the_shipped_manifest_schema_is_the_models_and_refuses_a_broken_manifest(
    small_recipe, write_recipe, tmp_path, dagster_home
):
    """The JSON Schema in the package is regenerated from the model (`python -m refinery.publish.manifest`), and
    it is strict enough to catch what a consumer would trip on."""
    import jsonschema

    from refinery.publish.manifest import SCHEMA_PATH, json_schema

    shipped = json.loads(SCHEMA_PATH.read_text())
    assert shipped == json_schema()
    validator = jsonschema.Draft202012Validator(shipped)
    assert main(["run", "--recipe", str(write_recipe(small_recipe))]) == 0
    manifest = json.loads((Catalog(tmp_path / "refined").version("small").path / "manifest.json").read_text())
    assert not list(validator.iter_errors(manifest))
    for broken in (
        {**manifest, "files": [{**manifest["files"][0], "sha256": "not-a-checksum"}]},
        {**manifest, "schema_version": 2},
        {k: v for k, v in manifest.items() if k != "content_hash"},
        {**manifest, "surprise": 1},
    ):
        assert list(validator.iter_errors(broken)), broken.keys()


def test_the_datacard_snippet_runs_from_where_the_datacard_says(small_recipe, write_recipe, dagster_home, tmp_path):
    """The card's "Use" code loads the version from the folder that holds the card, even after the store moved."""
    import re
    import shutil
    import subprocess
    import sys

    from refinery.catalog import Catalog
    from refinery.cli import main

    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    moved = shutil.move(recipe_path.parent / "refined", tmp_path / "elsewhere")
    version = Catalog(moved).version("small")
    card = (version.path / "DATACARD.md").read_text()
    assert "From the folder that holds this file:" in card
    (code,) = re.findall(r"## Use.*?```python\n(.*?)```", card, re.S)
    run = subprocess.run(
        [sys.executable, "-c", code + "print(df.height)"], cwd=version.path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.split()[-1]) == version.manifest["counts"]["refined"]


def test_every_version_loads_through_mlcroissant(small_recipe, write_recipe, dagster_home):
    """`croissant.json` is valid Croissant 1.0 for mlcroissant, whose records are the refined rows, field by field."""
    import mlcroissant as mlc
    import polars as pl

    from refinery.catalog import Catalog
    from refinery.cli import main

    recipe_path = write_recipe({**small_recipe, "description": "Forum posts and tickets, refined."})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    version = Catalog(recipe_path.parent / "refined").version("small")
    version.verify()  # the file is in the manifest, hashed like the rest
    dataset = mlc.Dataset(jsonld=version.path / "croissant.json")
    assert not dataset.metadata.ctx.issues.warnings, dataset.metadata.ctx.issues.report()
    assert dataset.metadata.name == "small" and dataset.metadata.description == "Forum posts and tickets, refined."
    records = {r["refined/doc_id"].decode(): r for r in dataset.records("refined")}
    refined = version.scan().collect()
    assert sorted(records) == sorted(refined.get_column("doc_id"))
    for row in refined.head(20).iter_rows(named=True):
        record = records[row["doc_id"]]
        assert record["refined/text"].decode() == row["text"] and record["refined/n_words"] == row["n_words"]
    assert {f.name for f in dataset.metadata.record_sets[0].fields} == set(refined.columns) - {
        c for c, t in refined.schema.items() if isinstance(t, pl.List)
    }


def test_a_version_s_release_number_says_what_changed_for_its_readers(
    small_recipe, write_recipe, small_ore, dagster_home
):
    """Semantic versions, from what changed against the parent: the same data under another recipe is a patch, new
    ore a minor release, an added column a minor one, a column gone a major one. Croissant carries it."""
    from refinery.catalog import Catalog
    from refinery.cli import main

    def published(recipe: dict) -> str:
        path = write_recipe(recipe)
        assert main(["run", "--recipe", str(path)]) == 0
        version = Catalog(path.parent / "refined").version("small")
        assert json.loads((version.path / "croissant.json").read_text())["version"] == version.manifest["release"]
        assert f"Release `{version.manifest['release']}`" in (version.path / "DATACARD.md").read_text()
        return version.manifest["release"]

    assert published(small_recipe) == "1.0.0"
    assert published({**small_recipe, "description": "The same rows, described."}) == "1.0.1"
    posts = small_ore / "forums" / "posts.jsonl"
    post = {"post_id": "new", "body": "A new post with enough plain words to pass the filters " * 3}
    posts.write_text(posts.read_text() + json.dumps(post) + "\n")
    assert published(small_recipe) == "1.1.0"
    assert published({**small_recipe, "publish": {"tokens": {"vocab_size": 300}}}) == "1.2.0"  # n_tokens added
    assert published(small_recipe) == "2.0.0"  # n_tokens gone
