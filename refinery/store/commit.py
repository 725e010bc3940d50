"""How a version becomes visible: assembled in a hidden temporary folder, its files and folders fsynced, renamed
into place, then LATEST replaced by an atomic rename of an fsynced file. A SIGKILL at any moment leaves the old
or the new version as LATEST, complete; call under the dataset's lock."""

import os
import shutil
import uuid
from pathlib import Path

from refinery.store.layout import LATEST


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        else:
            fsync_dir(path)
    fsync_dir(root)


def temporary(dataset_dir: Path) -> Path:
    """A new hidden folder to assemble a version in (not yet a version: it has no manifest, and a dot)."""
    return dataset_dir / f".tmp-{uuid.uuid4().hex}"


def remove_abandoned(dataset_dir: Path) -> None:
    """Temporary version folders and LATEST pointers left by killed writers."""
    for path in dataset_dir.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in dataset_dir.glob(f".{LATEST}-*"):
        path.unlink(missing_ok=True)


def move_into_place(tmp: Path, dataset_dir: Path, version: str) -> Path:
    """The assembled folder, durable, as version `version` (not yet LATEST)."""
    fsync_tree(tmp)
    final = dataset_dir / version
    tmp.rename(final)
    fsync_dir(dataset_dir)
    return final


def set_latest(dataset_dir: Path, version: str) -> None:
    """Point LATEST at `version` by an atomic rename, durable once this returns."""
    pointer = dataset_dir / f".{LATEST}-{uuid.uuid4().hex}"
    with open(pointer, "w") as fh:
        fh.write(version + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, dataset_dir / LATEST)
    fsync_dir(dataset_dir)
