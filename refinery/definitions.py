"""The code location: one asset group per recipe found in `REFINERY_RECIPES` (default `data/recipes/*.yaml`)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import dagster as dg

from refinery.defs.refine import recipe_definitions
from refinery.instance import PROJECT_ROOT
from refinery.recipe import load_recipe


def recipe_paths() -> list[Path]:
    pattern = os.environ.get("REFINERY_RECIPES", str(PROJECT_ROOT / "data" / "recipes" / "*.yaml"))
    return sorted(Path(p) for p in glob.glob(pattern))


def build_definitions(paths: list[Path]) -> dg.Definitions:
    return dg.Definitions.merge(*(recipe_definitions(load_recipe(p)) for p in paths)) if paths else dg.Definitions()


defs = build_definitions(recipe_paths())
