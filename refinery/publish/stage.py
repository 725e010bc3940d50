"""Atomic, immutable publication of a version.

The version is assembled in a hidden temporary folder beside its final place, files are fsynced, the folder is
renamed into place (`manifest.json` written last inside it), then `LATEST` is replaced by an atomic rename. A
lock per dataset keeps two publishers apart; the loser gets a clear error. Same ore, recipe and code give the
same content hash, and then no new version is made.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery import __version__
from refinery.errors import PublishError
from refinery.hashing import sha256_file
from refinery.publish.datacard import render_datacard
from refinery.publish.readiness import assess
from refinery.recipe import Recipe
from refinery.records import REMOVED_SCHEMA
from refinery.validate import ValidationReport

PART_ROWS = 500_000


@dataclass
class PublishInput:
    recipe: Recipe
    cleaned: Path
    removed: list[Path]  # quarantine, dedup and clean removals
    signatures: Path
    validation: ValidationReport
    validation_dir: Path
    ore: list[dict]  # source, path, bytes, sha256
    stages: dict  # per-stage statistics and parameters, for the datacard
    run_id: str | None = None


@dataclass
class PublishOutcome:
    path: Path
    version: str
    manifest: dict
    created: bool  # False when the content equals LATEST's and no new version was made


@contextmanager
def dataset_lock(dataset_dir: Path) -> Iterator[None]:
    dataset_dir.mkdir(parents=True, exist_ok=True)
    with open(dataset_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(
                f"another run is publishing {dataset_dir.name} right now; retry when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def _write_parts(sources: list[Path], folder: Path, schema: dict | None = None) -> list[Path]:
    """Copy rows into part-NNNNN.parquet files of at most PART_ROWS rows, streaming a batch at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    writer, rows_in_part = None, PART_ROWS
    for source in sources:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=50_000):
            frame = pl.from_arrow(batch)
            frame = frame.select(pl.col(c).cast(t) for c, t in schema.items()) if schema else frame
            while frame.height:
                if rows_in_part == PART_ROWS:
                    if writer:
                        writer.close()
                    parts.append(folder / f"part-{len(parts):05d}.parquet")
                    writer, rows_in_part = pq.ParquetWriter(parts[-1], frame.to_arrow().schema, compression="zstd"), 0
                take = frame.head(PART_ROWS - rows_in_part)
                writer.write_table(take.to_arrow())
                rows_in_part += take.height
                frame = frame.slice(take.height)
    if writer:
        writer.close()
    if not parts:  # no rows at all: one empty part with the schema
        parts.append(folder / "part-00000.parquet")
        empty = pl.read_parquet(sources[0]).head(0) if sources else pl.DataFrame(schema=schema)
        (empty.select(pl.col(c).cast(t) for c, t in schema.items()) if schema else empty).write_parquet(parts[0])
    return parts


def _file_entry(path: Path, root: Path, kind: str) -> dict:
    rows = pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else None
    return {
        "path": path.relative_to(root).as_posix(),
        "kind": kind,
        "rows": rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def _counts(refined: int, removed: pl.DataFrame) -> dict:
    by_stage: dict[str, dict[str, int]] = {}
    for stage, reason, n in removed.group_by("stage", "reason").len().sort("stage", "reason").iter_rows():
        by_stage.setdefault(stage, {"total": 0})[reason] = n
        by_stage[stage]["total"] += n
    return {"read": refined + removed.height, "refined": refined, "removed": by_stage}


def latest(dataset_dir: Path) -> str | None:
    pointer = dataset_dir / "LATEST"
    return pointer.read_text().strip() if pointer.exists() else None


def publish(inp: PublishInput) -> PublishOutcome:
    recipe = inp.recipe
    dataset_dir = recipe.output_dir / recipe.dataset
    with dataset_lock(dataset_dir):
        tmp = dataset_dir / f".tmp-{uuid.uuid4().hex}"
        try:
            return _publish_locked(inp, dataset_dir, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _publish_locked(inp: PublishInput, dataset_dir: Path, tmp: Path) -> PublishOutcome:
    recipe = inp.recipe
    refined_files = _write_parts([inp.cleaned], tmp)
    removed_files = _write_parts(inp.removed, tmp / "removed", REMOVED_SCHEMA)
    (tmp / "dedup").mkdir()
    shutil.copyfile(inp.signatures, tmp / "dedup" / "signatures.parquet")
    shutil.copytree(inp.validation_dir, tmp / "validation")

    data_files = [_file_entry(p, tmp, "refined") for p in refined_files]
    data_files += [_file_entry(p, tmp, "removed") for p in removed_files]
    data_files.append(_file_entry(tmp / "dedup" / "signatures.parquet", tmp, "signatures"))
    content_hash = _content_hash(data_files)
    parent = latest(dataset_dir)
    if parent and (dataset_dir / parent / "manifest.json").exists():
        previous = json.loads((dataset_dir / parent / "manifest.json").read_text())
        if previous["content_hash"] == content_hash:
            return PublishOutcome(dataset_dir / parent, parent, previous, created=False)

    now = datetime.now(UTC)
    version = f"{now:%Y%m%dT%H%M%SZ}-{content_hash[:8]}"
    removed = pl.scan_parquet(removed_files).select("stage", "reason").collect(engine="streaming")
    manifest = {
        "dataset": recipe.dataset,
        "version": version,
        "created_at": now.isoformat(timespec="seconds"),
        "recipe": recipe.resolved(),
        "recipe_hash": recipe.hash,
        "code_version": __version__,
        "sources": [{"name": s.name, "format": s.format, "license": s.license} for s in recipe.sources],
        "ore": inp.ore,
        "counts": _counts(sum(f["rows"] for f in data_files if f["kind"] == "refined"), removed),
        "schema": {k: str(v) for k, v in pl.read_parquet_schema(refined_files[0]).items()},
        "files": data_files,
        "content_hash": content_hash,
        "validation": json.loads(inp.validation.to_json()),
        "stages": inp.stages,
        "parent": parent,
        "dagster_run_id": inp.run_id,
    }
    manifest["readiness"] = assess(manifest)
    (tmp / "DATACARD.md").write_text(render_datacard(manifest))
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))  # last: marks completeness
    _fsync_tree(tmp)
    final = dataset_dir / version
    tmp.rename(final)
    pointer = dataset_dir / f".LATEST-{uuid.uuid4().hex}"
    pointer.write_text(version + "\n")
    os.replace(pointer, dataset_dir / "LATEST")
    return PublishOutcome(final, version, manifest, created=True)


def _content_hash(files: list[dict]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"]):
        digest.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return digest.hexdigest()
