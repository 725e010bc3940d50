"""Where a run keeps its intermediate Parquet: `<output>/.staging/<dataset>/<run id>/<step>/`.

Only `published` creates a version; a failed run leaves staging files behind for inspection, never a version.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

from refinery.ingest.readers import relative_uri
from refinery.recipe import Recipe, Source
from refinery.storage import version


def staging_dir(recipe: Recipe, run_id: str, step: str) -> Path:
    path = recipe.output_dir / ".staging" / recipe.dataset / run_id / step
    path.mkdir(parents=True, exist_ok=True)
    return path


def ore_fingerprint(recipe: Recipe, source: Source) -> str:
    """Cheap fingerprint of a source's files (path, size, mtime or ETag): changes when ore is added or edited."""
    digest = hashlib.sha256()
    for path in recipe.files(source):
        digest.update(f"{relative_uri(path, recipe.base_dir)}\0{version(path)}\n".encode())
    return digest.hexdigest()[:16]


def prune_staging(recipe: Recipe, in_use: list[str], is_finished: Callable[[str], bool]) -> list[str]:
    """Delete staging folders of finished runs, except those holding `in_use` paths (the inputs of the last
    publish, which a later partial re-materialization may load again)."""
    root = recipe.output_dir / ".staging" / recipe.dataset
    keep = {
        Path(p).resolve().relative_to(root.resolve()).parts[0]
        for p in in_use
        if Path(p).resolve().is_relative_to(root.resolve())
    }
    removed = []
    for run_dir in sorted(root.iterdir()) if root.exists() else []:
        if run_dir.name not in keep and is_finished(run_dir.name):
            shutil.rmtree(run_dir, ignore_errors=True)
            removed.append(run_dir.name)
    return removed
