"""A dataset in object storage (an `output` URI): versions are committed locally, then uploaded in commit order,
and LATEST there is replaced only by a conditional write, which serializes publishers on several machines. A
machine without the store's LATEST (a new one, a lost volume) adopts it before building on it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from refinery.errors import PublishError
from refinery.storage import etag, get, put, remove_tree, replace_if_unchanged, root_path
from refinery.store.commit import fsync_tree, set_latest, temporary
from refinery.store.layout import LATEST, latest
from refinery.store.lock import dataset_lock

if TYPE_CHECKING:
    from refinery.recipe import Recipe


class LatestMoved(PublishError):
    """Another publisher made its version LATEST in the object store after this one read it."""


def latest_root(recipe: Recipe) -> Path:
    """Where a step that builds on LATEST (incremental dedup, append mode) reads it, without writing to the store
    (only publishing does): the local publish folder when it holds the store's LATEST, else, for an output URI
    whose LATEST this machine lacks (a new machine, a lost volume), a read-only copy of that version downloaded
    once into `.refinery-cache/` beside the recipe. Publishing adopts the store's LATEST itself, under its lock."""
    if not recipe.remote_output:
        return recipe.output_dir
    pointer = root_path(recipe.output) / recipe.dataset / LATEST
    version = pointer.read_text().strip() if etag(pointer) else None
    if version is None or latest(recipe.output_dir / recipe.dataset) == version:
        return recipe.output_dir
    cache = (recipe.base_dir / ".refinery-cache").resolve()
    folder = cache / recipe.dataset
    folder.mkdir(parents=True, exist_ok=True)
    with dataset_lock(folder):  # two runs on this machine download it once
        if not (folder / version / "manifest.json").exists():
            tmp = temporary(folder)
            try:
                get(pointer.parent / version, tmp)
                tmp.rename(folder / version)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        set_latest(folder, version)
    return cache


def adopt_latest(recipe: Recipe) -> str | None:
    """The object store's LATEST made this machine's (call under the lock); returns the pointer's ETag as read
    (None: no pointer yet), which the upload's conditional write of LATEST requires to be unchanged."""
    if not recipe.remote_output:
        return None
    pointer = root_path(recipe.output) / recipe.dataset / LATEST
    tag = etag(pointer)  # before the content: a pointer rewritten in between fails the condition, never passes it
    version = pointer.read_text().strip() if tag else None
    dataset_dir = recipe.output_dir / recipe.dataset
    if version is None or latest(dataset_dir) == version:
        return tag
    if not (dataset_dir / version / "manifest.json").exists():
        tmp = temporary(dataset_dir)
        try:
            get(pointer.parent / version, tmp)
            fsync_tree(tmp)
            tmp.rename(dataset_dir / version)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    set_latest(dataset_dir, version)
    return tag


def upload(version_dir: Path, dataset_uri: Path, expected: str | None) -> None:
    """Copy a committed version to the dataset's folder in object storage in commit order: data and documents
    first, then `manifest.json` (readers see a version once its manifest is there), then `LATEST`. A version
    already there with the same manifest is not copied again, so the next publish completes an upload cut short.

    `LATEST` is replaced only if it is still the pointer this publisher read (ETag `expected`): publishers on
    several machines are serialized by that one conditional write. The loser withdraws its version (it never was
    LATEST) and fails, so no version is built on data another publisher did not see."""
    target = dataset_uri / version_dir.name
    manifest = (version_dir / "manifest.json").read_bytes()
    uploaded = target / "manifest.json"
    if not (uploaded.exists() and uploaded.read_bytes() == manifest):
        last = [version_dir / name for name in ("manifest.sig", "manifest.json") if (version_dir / name).exists()]
        files = sorted(p for p in version_dir.rglob("*") if p.is_file() and p not in last)
        for path in [*files, *last]:
            put(path, target / path.relative_to(version_dir).as_posix())
    pointer = dataset_uri / LATEST
    current = pointer.read_text().strip() if pointer.exists() else None
    if current == version_dir.name:
        return
    if not replace_if_unchanged(pointer, version_dir.name + "\n", expected):  # one PUT: old or new pointer
        remove_tree(target)
        winner = pointer.read_text().strip()
        raise LatestMoved(
            f"another publisher made {winner} LATEST in {dataset_uri} while this run published "
            f"{version_dir.name}; this version was withdrawn. Run again to refine on top of {winner}"
        )
