"""Real concurrent `refinery run`s on one Dagster instance: each publishes its own data, never the other's."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl

from refinery.catalog import Catalog
from refinery_tests.synth import document


def _start(recipe: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "refinery.cli", "run", "--recipe", str(recipe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )


def _finish(*procs: subprocess.Popen) -> list[str]:
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outs
    return outs


def test_two_recipes_with_one_dataset_name_publish_their_own_data(small_recipe, write_recipe, tmp_path, dagster_home):
    other_ore = tmp_path / "other" / "posts.jsonl"
    other_ore.parent.mkdir()
    rng = random.Random(11)
    other_ore.write_text("\n".join(json.dumps({"id": f"o{i}", "body": document(rng)}) for i in range(40)) + "\n")
    other = {
        **small_recipe,
        "output": "refined-other",
        "sources": [
            {"name": "forums", "format": "jsonl", "path": "other/*.jsonl", "text_field": "body", "license": "x"}
        ],
    }
    mine, theirs = write_recipe(small_recipe, "mine.yaml"), write_recipe(other, "theirs.yaml")
    _finish(_start(mine), _start(theirs))
    for root, recipe_ore in [("refined", {"ore/forums/posts.jsonl", "ore/csv/export.csv"}), ("refined-other", None)]:
        v = Catalog(tmp_path / root).version("small")
        v.verify()
        ore = {o["path"] for o in v.manifest["ore"]}
        assert ore == (recipe_ore or {"other/posts.jsonl"})
        assert set(v.scan().select("source_uri").unique().collect().get_column("source_uri")) <= ore
        assert v.manifest["counts"]["read"] == (153 if recipe_ore else 40)


def test_the_same_recipe_twice_at_once(small_recipe, write_recipe, tmp_path, dagster_home):
    recipe = write_recipe(small_recipe)
    outs = _finish(_start(recipe), _start(recipe))
    catalog = Catalog(tmp_path / "refined")
    assert len(catalog.versions("small")) == 1  # the same data: the second publisher made no new version
    assert sum("no new version was made" in out for out in outs) == 1
    v = catalog.version("small")
    v.verify()
    assert v.scan().select(pl.len()).collect().item() == v.manifest["counts"]["refined"]


def test_two_recipes_publishing_one_dataset_folder_are_refused_unless_shared(
    small_recipe, write_recipe, tmp_path, dagster_home, capsys
):
    from refinery.cli import main

    mine = write_recipe(small_recipe, "mine.yaml")
    narrower = {**small_recipe, "sources": small_recipe["sources"][:1]}  # another corpus, the same name and output
    theirs = write_recipe(narrower, "theirs.yaml")
    assert main(["run", "--recipe", str(mine)]) == 0
    latest = Catalog(tmp_path / "refined").version("small").id
    assert main(["run", "--recipe", str(theirs)]) == 1
    assert "is published by the recipe" in capsys.readouterr().out
    assert Catalog(tmp_path / "refined").version("small").id == latest
    shared = {"max_drop": None, "shared": True}
    write_recipe({**small_recipe, "publish": shared}, "mine.yaml")
    write_recipe({**narrower, "publish": shared}, "theirs.yaml")
    assert main(["run", "--recipe", str(theirs)]) == 0
    assert Catalog(tmp_path / "refined").version("small").id != latest
