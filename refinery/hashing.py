"""Stable, vectorized hashes: the same input gives the same id on any machine and any library version.

Polars' own `hash()` is seeded per release, so ids that must outlive a run are computed with DuckDB's `md5`.
"""

import hashlib
import hmac
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import BinaryIO

import polars as pl


def stable_id(frame: pl.DataFrame, columns: list[str], width: int = 16) -> pl.Series:
    """Hex id over `columns` joined with a unit separator (nulls as empty), `width` hex digits of MD5."""
    parts = ", ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in columns)
    import duckdb  # here: most commands never compute ids

    con = duckdb.connect()
    con.register("frame", frame.select(columns).to_arrow())
    ids = con.sql(f"SELECT left(md5(concat_ws(chr(31), {parts})), {width}) AS id FROM frame").to_arrow_table()
    return pl.Series("doc_id", ids.column("id"))


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: BinaryIO, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while block := fh.read(chunk):
        digest.update(block)
    return digest.hexdigest()


PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def source_hash() -> str:
    """sha256 over the package's own source files (paths and bytes): changes exactly when the code that runs does."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def code_version() -> dict:
    """What code made a version: the source hash, the package version, and the git commit when there is one."""
    from refinery import __version__

    try:
        commit = subprocess.run(
            ["git", "-C", str(PACKAGE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"source_sha256": source_hash(), "package": __version__, "git_commit": commit or None}


DATA_KINDS = ("refined", "removed", "signatures")


def content_hash(files: list[dict]) -> str:
    """sha256 over the data files' paths and checksums: equal exactly when the published data is."""
    digest = hashlib.sha256()
    for f in sorted((f for f in files if f["kind"] in DATA_KINDS), key=lambda f: f["path"]):
        digest.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return digest.hexdigest()


def version_hash(content: str, recipe_hash: str, source_sha256: str) -> str:
    """What a version id stands for: its data, the recipe and the code that made it."""
    return hashlib.sha256(f"{content}\0{recipe_hash}\0{source_sha256}".encode()).hexdigest()


def recipe_hash(resolved: dict) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()


SIGNING_KEY = "REFINERY_SIGNING_KEY"


def manifest_signature(manifest_bytes: bytes) -> str | None:
    """HMAC-SHA256 of the manifest under the key in $REFINERY_SIGNING_KEY, or None when no key is set."""
    key = os.environ.get(SIGNING_KEY)
    return hmac.new(key.encode(), manifest_bytes, hashlib.sha256).hexdigest() if key else None
