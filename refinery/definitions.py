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
from refinery.errors import RecipeError, RefineryError
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


def recipes_or_errors(paths: list[Path]) -> list[dg.Definitions]:
    """Each recipe's definitions, or its error. Dataset names that differ only where Dagster's names cannot
    (`forum-en`, `forum.en`) would give two recipes one asset key: the first one keeps it, the others are errors."""
    found, claimed = [], {}
    for path in paths:
        try:
            recipe = load_recipe(path)
            if (owner := claimed.setdefault(slug(recipe.dataset), (recipe.dataset, path))) != (recipe.dataset, path):
                raise RecipeError(
                    f"{path}: dataset: {recipe.dataset!r} has the Dagster names of dataset {owner[0]!r} "
                    f"({owner[1].name}); rename one of them"
                )
            found.append(recipe_definitions(recipe))
        except RefineryError as err:
            found.append(broken_recipe(path, err))
    return found


def build_definitions(paths: list[Path]) -> dg.Definitions:
    return dg.Definitions.merge(*recipes_or_errors(paths)) if paths else dg.Definitions()


defs = build_definitions(recipe_paths())
