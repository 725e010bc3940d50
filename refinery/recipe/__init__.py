"""The recipe: `model` (the typed model, gathering each step's configuration; reads no file), `load` (YAML to a
checked model) and `places` (where the ore is: globs, roots, drops)."""

from refinery.clean.config import Clean, Filters, Normalize, Structure
from refinery.dedup.config import Dedup, NearDedup
from refinery.ingest.config import Source
from refinery.recipe.load import load_recipe, parse_recipe
from refinery.recipe.model import Automation, Publish, Recipe, Splits, slug
from refinery.recipe.places import (
    ablation_files,
    check_named_files,
    drop_paths,
    evaluation_sets,
    ore_files,
    quality_files,
    source_files,
)
from refinery.validate.config import Expectation, Validate

__all__ = [
    "Automation",
    "Clean",
    "Dedup",
    "Expectation",
    "Filters",
    "NearDedup",
    "Normalize",
    "Publish",
    "Recipe",
    "Source",
    "Splits",
    "Structure",
    "Validate",
    "ablation_files",
    "check_named_files",
    "drop_paths",
    "evaluation_sets",
    "load_recipe",
    "ore_files",
    "parse_recipe",
    "quality_files",
    "slug",
    "source_files",
]
