"""Ablations of published versions (`refinery ablate`): a version's refined text against the ore it was made from,
read again, or another version, through `refinery.lm.ablate`. Results are kept beside the version, outside its
immutable folder: `<dataset>/ablations/<version>--<name>.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from refinery.catalog import Version
from refinery.errors import RecipeError
from refinery.hashing import sha256_file
from refinery.recipe import Recipe


def save(version: Version, name: str, result: dict, files: list[Path]) -> Path:
    """The result beside the version, with the evaluation files' sha256."""
    digests = {str(f): sha256_file(f) for f in files}
    path = version.path.parent / "ablations" / f"{version.id}--{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"version": f"{version.dataset}@{version.id}", **result}
    result["evaluation"] = {**result["evaluation"], "files": digests}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def ore_texts(recipe: Recipe, version: Version, workdir: Path) -> pl.Series:
    """The text of the ore the version was refined from, as ingest reads it (before deduplication and cleaning),
    read again from the recipe's sources; the ore must be the bytes the version read (its manifest's sha256)."""
    from refinery.ingest.readers import ingest_source
    from refinery.recipe import ore_files

    records, read = [], set()
    for source in recipe.sources:
        result = ingest_source(source, recipe.base_dir, workdir / source.name, ore_files(recipe, source))
        records.append(result.records)
        read |= {entry["sha256"] for entry in result.ore}
    made_from = {entry["sha256"] for entry in version.manifest["ore"]}
    if read != made_from:
        raise RecipeError(
            f"the ore of {version.dataset}@{version.id} has changed since it was refined ({len(made_from - read)} "
            f"of its files are not as it read them, {len(read - made_from)} are new): an ablation against it would "
            "compare other data"
        )
    return pl.scan_parquet(records).select("text").collect().get_column("text")
