"""A dataset's folder: `<root>/<dataset>/<version>/` (complete once its `manifest.json` is there), `LATEST` naming
the newest complete version, `PINS` listing those prune keeps forever. Works on local paths and on fsspec paths."""

import json
from pathlib import Path

LATEST = "LATEST"
PINS = "PINS"


def latest(dataset_dir: Path) -> str | None:
    pointer = dataset_dir / LATEST
    return pointer.read_text().strip() if pointer.exists() else None


def versions(dataset_dir: Path) -> list[str]:
    """Complete versions (with a manifest), oldest first: ids start with their UTC time."""
    return sorted(
        p.name for p in dataset_dir.iterdir() if not p.name.startswith(".") and (p / "manifest.json").exists()
    )


def manifest_of(dataset_dir: Path, version: str | None) -> dict | None:
    path = dataset_dir / version / "manifest.json" if version else None
    return json.loads(path.read_text()) if path and path.exists() else None


def pins(dataset_dir: Path) -> set[str]:
    path = dataset_dir / PINS
    return set(path.read_text().split()) if path.exists() else set()


def write_pins(dataset_dir: Path, pinned: set[str]) -> None:
    """Replace PINS whole (under the dataset's lock)."""
    path = dataset_dir / PINS
    tmp = path.with_name(f".{PINS}.tmp")
    tmp.write_text("".join(f"{p}\n" for p in sorted(pinned)))
    tmp.replace(path)
