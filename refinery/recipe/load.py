"""Loading a recipe: YAML read safely, the model validated, then what the model cannot check alone: that the ore
is where the recipe says (inside its roots, apart from the output), that its expectations exist in GX, that its
schedule is a cron string. A malformed recipe fails here, before anything runs, naming the key."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from refinery.errors import RecipeError
from refinery.ingest.config import Source
from refinery.recipe.model import Recipe
from refinery.recipe.places import could_match_under, fixed_folder, ore_files

MAX_RECIPE_BYTES = 1 << 20


def _key(loc: tuple) -> str:
    key = ""
    for item in loc:
        if isinstance(item, int):
            key += f"[{item}]"
        else:
            key += ("." if key else "") + ("validate" if item == "validate_" else str(item))
    return key or "<root>"


def parse_recipe(data: object, base_dir: Path, origin: str = "<recipe>") -> Recipe:
    """Validate raw recipe data; every problem is reported with its key."""
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate({**data, "base_dir": base_dir})
    except ValidationError as err:
        lines = [f"{origin}: invalid recipe"]
        for e in err.errors():
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(f"  {_key(e['loc'])}: {msg}")
        raise RecipeError("\n".join(lines)) from None
    _check_places(recipe, origin)
    _check_expectations(recipe, origin)
    _check_schedule(recipe, origin)
    return recipe


def _check_expectations(recipe: Recipe, origin: str) -> None:
    from refinery.validate.expectations import check_declared  # GX is imported only here, lazily

    for i, exp in enumerate(recipe.validate_.expectations):
        problem = check_declared(exp.expectation, exp.kwargs)
        if problem:
            raise RecipeError(f"{origin}: validate.expectations[{i}].{problem}")


def _check_schedule(recipe: Recipe, origin: str) -> None:
    """A cron string Dagster's schedules accept (checked by making one)."""
    if (cron := recipe.automation.schedule) is None:
        return
    import dagster as dg

    try:
        dg.ScheduleDefinition(name="recipe_schedule", cron_schedule=cron, job_name="recipe_job")
    except dg.DagsterInvalidDefinitionError:
        raise RecipeError(f"{origin}: automation.schedule: {cron!r} is not a valid cron string") from None


def _check_local_source(recipe: Recipe, i: int, source: Source, origin: str) -> None:
    """A local source's folder lies inside the ore roots and apart from the output."""
    folder, out = fixed_folder(source.path, recipe.base_dir), recipe.output_dir
    if not any(folder.is_relative_to(root) for root in recipe.roots):
        raise RecipeError(
            f"{origin}: sources[{i}].path: {source.path!r} lies outside the ore roots "
            f"({', '.join(recipe.ore_roots)}); declare its folder in ore_roots"
        )
    if folder.is_relative_to(out) or could_match_under(source, out, recipe.base_dir):
        raise RecipeError(
            f"{origin}: output: {out} overlaps the ore of sources[{i}] ({folder}): a run would read its own output"
        )


def _check_places(recipe: Recipe, origin: str) -> None:
    """Ore inside the declared roots, files that exist, an output that is a folder apart from every source."""
    out = recipe.output_dir
    if out.exists() and not out.is_dir():
        raise RecipeError(f"{origin}: output: {out} exists and is not a folder")
    if recipe.drops is not None:
        folder = fixed_folder(recipe.drops, recipe.base_dir)
        if not any(folder.is_relative_to(root) for root in recipe.roots):
            raise RecipeError(f"{origin}: drops: {recipe.drops!r} lies outside the ore roots; declare it in ore_roots")
        if folder.is_relative_to(out) or out.is_relative_to(folder):
            raise RecipeError(f"{origin}: output: {out} overlaps the drops folder {folder}")
    for i, source in enumerate(recipe.sources if recipe.drops is None else []):  # drops may all arrive later
        if not source.remote:
            _check_local_source(recipe, i, source, origin)
        try:
            found = ore_files(recipe, source)
        except RecipeError as err:
            raise RecipeError(f"{origin}: sources[{i}].path: {err}") from None
        if not found:
            raise RecipeError(f"{origin}: sources[{i}].path: no files match {source.path!r} (from {recipe.base_dir})")


class _RecipeLoader(yaml.SafeLoader):
    """YAML without aliases (a 663-byte alias bomb expands past 4 GB) and without silently repeated keys."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, f"aliases (*{event.anchor}) are not allowed in recipes", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: a recipe may not exceed {MAX_RECIPE_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise RecipeError(f"{path}: a recipe must be UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        data = yaml.load(text, Loader=_RecipeLoader)
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from None
    return parse_recipe(data, path.parent.resolve(), str(path)).model_copy(update={"origin": str(path.resolve())})
