"""The code location: one asset group per recipe found in `REFINERY_RECIPES` (default `data/recipes/*.yaml`).

A recipe that does not load does not take the others down: it becomes one asset, `<recipe>/recipe_error`, whose
description and every materialization show the error, so the UI says what is wrong where the dataset would be.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import dagster as dg

from refinery.defs.refine import recipe_definitions
from refinery.errors import RefineryError
from refinery.instance import PROJECT_ROOT
from refinery.recipe import load_recipe, slug


def recipe_paths() -> list[Path]:
    pattern = os.environ.get("REFINERY_RECIPES", str(PROJECT_ROOT / "data" / "recipes" / "*.yaml"))
    return sorted(Path(p) for p in glob.glob(pattern))


def broken_recipe(path: Path, error: RefineryError) -> dg.Definitions:
    group = slug(path.stem)

    @dg.asset(key=dg.AssetKey([group, "recipe_error"]), group_name=group, description=f"```\n{error}\n```")
    def recipe_error() -> None:
        raise dg.Failure(description=str(error))

    return dg.Definitions(assets=[recipe_error])


def recipe_or_error(path: Path) -> dg.Definitions:
    try:
        return recipe_definitions(load_recipe(path))
    except RefineryError as err:
        return broken_recipe(path, err)


def build_definitions(paths: list[Path]) -> dg.Definitions:
    return dg.Definitions.merge(*(recipe_or_error(p) for p in paths)) if paths else dg.Definitions()


defs = build_definitions(recipe_paths())
