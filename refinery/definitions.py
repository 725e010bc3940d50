"""The code location: one asset group per recipe found in `REFINERY_RECIPES` (default `data/recipes/*.yaml`), and
the run-failure alerts.

A recipe that does not load fails the location, naming every broken recipe and why: the UI shows the location in
error and `dagster definitions validate` fails, rather than a green location with a dataset missing. When the
location loads beside an instance (`DAGSTER_HOME`), each dataset's pool and its drops present are registered
with it, so the UI lists the drops as partitions at once, however the UI was started.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dagster as dg

from refinery.defs.alerts import alert_definitions
from refinery.defs.refine import recipe_definitions
from refinery.defs.refine.automation import register
from refinery.defs.refine.graph import Graph
from refinery.errors import RecipeError, RefineryError
from refinery.instance import recipe_paths
from refinery.recipe import Recipe, load_recipe, slug


def recipes(paths: list[Path]) -> list[Recipe]:
    """Each recipe; a `RecipeError` naming every recipe that does not load. Dataset names that differ only where
    Dagster's names cannot (`forum-en`, `forum.en`) would give two recipes one asset key: an error too."""
    found, claimed, errors = [], {}, []
    for path in paths:
        try:
            recipe = load_recipe(path)
            if (owner := claimed.setdefault(slug(recipe.dataset), (recipe.dataset, path))) != (recipe.dataset, path):
                raise RecipeError(
                    f"{path}: dataset: {recipe.dataset!r} has the Dagster names of dataset {owner[0]!r} "
                    f"({owner[1].name}); rename one of them"
                )
            found.append(recipe)
        except RefineryError as err:
            errors.append(str(err))
    if errors:
        raise RecipeError(f"{len(errors)} of {len(paths)} recipes do not load:\n" + "\n".join(errors))
    return found


def build_definitions(paths: list[Path], register_with: dg.DagsterInstance | None = None) -> dg.Definitions:
    """Every run executes its steps in one process, as `refinery run` does: the stages spread their own work
    over processes or a cluster, and a process per step added seconds of imports to each."""
    loaded = recipes(paths)
    for recipe in loaded if register_with else []:
        try:
            register(Graph(recipe), register_with)
        except Exception as err:  # e.g. Postgres, when the webserver's and the daemon's code servers register at
            # once (Dagster's pool set-up is not safe to race; one of them wins): the location still loads
            warnings.warn(f"refinery: {recipe.dataset}: drops and pool not registered: {err}", stacklevel=1)
    in_process = dg.Definitions(executor=dg.in_process_executor)
    return dg.Definitions.merge(*map(recipe_definitions, loaded), alert_definitions(), in_process)


def _instance() -> dg.DagsterInstance | None:
    """The instance this location loads beside, if any: registering with it must not keep the location down."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    try:
        return dg.DagsterInstance.get()
    except Exception as err:  # whatever a broken instance raises: the UI shows the location, the log says why
        warnings.warn(f"refinery: drops and pools not registered with the instance: {err}", stacklevel=1)
        return None


defs = build_definitions(recipe_paths(), _instance())
