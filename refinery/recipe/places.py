"""Where a recipe's ore is: its sources' globs (local or object URIs), the roots ore may come from, and its drops.
Everything here lists folders or buckets; the model itself reads nothing."""

from __future__ import annotations

import fnmatch
import glob
import itertools
from pathlib import Path

from refinery.clean.config import Decontaminate, Quality
from refinery.errors import RecipeError
from refinery.ingest.config import Source
from refinery.recipe.model import Ablation, Recipe
from refinery.storage import Ore, glob_uri


def fixed_folder(pattern: str, base: Path) -> Path:
    """The folder a glob's matches all lie under: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), parts[:-1]))
    return (base / Path(*fixed) if fixed else base).resolve()


def could_match_under(source: Source, folder: Path, base: Path) -> bool:
    """Whether files under `folder` could match the source's glob (a run would read its own output)."""
    if not folder.is_relative_to(fixed_folder(source.path, base)):
        return False
    if "**" in source.path:
        return True
    pattern = Path(source.path) if Path(source.path).is_absolute() else base.resolve() / source.path
    dirs, inner = pattern.parts[:-1], folder.parts
    return len(inner) <= len(dirs) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(inner, dirs, strict=False))


def source_files(source: Source, base: Path, roots: list[Path] | None = None) -> list[Ore]:
    """The ore files a source names, sorted so that runs are deterministic. A file that resolves outside the ore
    roots (a symlink out, say) is refused unless the source says `follow_symlinks: true`."""
    if source.remote:
        try:
            return glob_uri(source.path)
        except Exception as err:  # whatever the filesystem's library raises (no bucket, no credentials, ...)
            problem = f"{type(err).__name__}: {err}"
            raise RecipeError(f"source {source.name!r}: cannot list {source.path}: {problem}") from None
    pattern = source.path if Path(source.path).is_absolute() else str(base / source.path)
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    return inside(source, roots or [base.resolve()], files)


def inside(source: Source, roots: list[Path], files: list[Path]) -> list[Path]:
    """`files`, or RecipeError naming one that resolves outside `roots` (unless `follow_symlinks`)."""
    if not source.follow_symlinks:
        for f in files:
            if not any(f.resolve().is_relative_to(root) for root in roots):
                raise RecipeError(
                    f"source {source.name!r}: {f} resolves to {f.resolve()}, outside the ore roots "
                    f"({', '.join(map(str, roots))}); set follow_symlinks: true on the source to read it"
                )
    return files


def drop_paths(recipe: Recipe) -> dict[str, Path]:
    """The drops present now, by partition key: the drop's path under the drops glob's folder."""
    if recipe.drops is None:
        return {}
    folder = fixed_folder(recipe.drops, recipe.base_dir)
    pattern = recipe.drops if Path(recipe.drops).is_absolute() else str(recipe.base_dir / recipe.drops)
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
    return {p.resolve().relative_to(folder).as_posix(): p for p in found}


def ore_files(recipe: Recipe, source: Source, drop: str | None = None) -> list[Ore]:
    """The source's ore files; with drops, those of one drop (`drop`) or of every drop present."""
    if recipe.drops is None:
        return source_files(source, recipe.base_dir, recipe.roots)
    files: list[Ore] = []
    for key, path in drop_paths(recipe).items():
        if drop not in (None, key):
            continue
        if path.is_dir():
            files += source_files(source, path, recipe.roots)
        elif path.is_file() and fnmatch.fnmatchcase(path.name, Path(source.path).name):  # not a FIFO
            files += inside(source, recipe.roots, [path])
    return files


def evaluation_sets(recipe: Recipe) -> tuple[Decontaminate, dict[str, list[Path]]] | None:
    """The recipe's decontamination and its evaluation files by set (a set per file, named by the file), or None.
    A glob that matches no file is a recipe error: a contamination check against nothing would pass silently."""
    how = recipe.decontaminate
    if how is None:
        return None
    sets: dict[str, list[Path]] = {}
    for path in _matching(recipe, how.against, "decontaminate.against"):
        sets.setdefault(path.name.split(".")[0], []).append(path)
    return how, sets


def quality_files(recipe: Recipe) -> tuple[Quality, dict[str, list[Path]]] | None:
    """The recipe's quality score and its files by role: the one `model` file, or the `reference` corpus and the
    `labelled` texts; or None."""
    how = recipe.quality
    if how is None:
        return None
    if how.model is not None:
        return how, {"model": _matching(recipe, [how.model], "quality.model")}
    return how, {
        "reference": _matching(recipe, how.reference or [], "quality.reference"),
        "labelled": _matching(recipe, how.labelled or [], "quality.labelled"),
    }


def ablation_files(recipe: Recipe) -> tuple[Ablation, list[Path]]:
    """`publish.ablation` and its evaluation files."""
    how = recipe.publish.ablation
    assert how is not None, "only for a recipe with publish.ablation"
    return how, _matching(recipe, how.eval, "publish.ablation.eval")


def check_named_files(recipe: Recipe) -> None:
    """Every file the recipe names besides its ore (evaluation sets, quality reference or model, ablation text)
    is there, and a named quality model is one: a RecipeError before anything runs, not a failed step."""
    evaluation_sets(recipe)
    named = quality_files(recipe)
    if recipe.publish.ablation:
        ablation_files(recipe)
    if named:
        _check_quality_files(*named)


def _check_quality_files(how: Quality, files: dict[str, list[Path]]) -> None:
    """A named model is one; every labelled row says keep or drop, and something is writing to learn from."""
    from refinery.clean.quality import Model, labelled_texts

    try:
        if how.model:
            Model.load(files["model"][0])
            return
        kept, _ = labelled_texts(files["labelled"], how.field, how.label_field)
    except (ValueError, OSError) as err:  # a broken file too: gzip's and Parquet's errors are OSErrors
        raise RecipeError(f"quality.{'model' if how.model else 'labelled'}: {err}") from None
    if not files["reference"] and not kept:
        raise RecipeError("quality: no reference and no labelled text marked keep: nothing to learn as writing to keep")


def _matching(recipe: Recipe, patterns: list[str], key: str) -> list[Path]:
    """The files each glob (relative to the recipe) matches, in order; a glob matching none is a recipe error."""
    files = []
    for pattern in patterns:
        found = sorted(Path(p) for p in glob.glob(str(recipe.base_dir / pattern), recursive=True))
        if not found:
            raise RecipeError(f"{key}: {pattern!r} matches no file")
        files += found
    return files
