"""Where ore and published versions live: local files (`Path`), or objects named by URI (`s3://bucket/key`,
`gs://...`, `file://...`) and reached through fsspec, so the nodes that read them need share no disk. Published
versions under a URI are read through universal paths (`root_path`), which keep the pathlib API.

A shard that reads an object copies it to the node's temporary folder first (`local_copy`) and reads the copy
with the same readers as a local file: Parquet needs random access, and a stage cannot tell the two apart. The
copy is deleted when the shard is done, so a node holds at most the objects of the shards in flight. Credentials
and endpoints come from the environment, as the filesystem's own library reads them (for S3, botocore:
`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, ...; fsspec also reads `FSSPEC_S3_*`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from refinery.hashing import sha256_file, sha256_stream

Ore = Path | str  # a local file, or the URI of an object


def is_uri(location: str | Path) -> bool:
    """A URI, or a universal path over an object store (a local `Path` never keeps a `//`)."""
    return "://" in str(location)


def filesystem(uri: str) -> tuple[Any, str]:
    """The filesystem and the path in it, with fsspec's listing cache emptied: ore changes between calls (a
    sensor asks again and again in one process)."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri)
    fs.invalidate_cache()
    return fs, path


def glob_uri(pattern: str) -> list[str]:
    """The objects a URI glob names (`**` included), as full URIs, sorted."""
    fs, path = filesystem(pattern)
    found = fs.glob(path, detail=True)
    return sorted(fs.unstrip_protocol(name) for name, info in found.items() if info.get("type") == "file")


@contextmanager
def local_copy(location: Ore) -> Iterator[Path]:
    """The file itself, or a temporary copy of the object that is deleted afterwards."""
    if not is_uri(location):
        yield Path(location)
        return
    fs, path = filesystem(str(location))
    with tempfile.TemporaryDirectory(prefix="refinery-ore-") as folder:
        copy = Path(folder) / Path(path).name
        with fs.open(path, "rb") as remote, open(copy, "wb") as local:
            shutil.copyfileobj(remote, local, 1 << 20)
        yield copy


def size(location: Ore) -> int:
    if not is_uri(location):
        return Path(location).stat().st_size
    fs, path = filesystem(str(location))
    return int(fs.size(path))


def version(location: Ore) -> str:
    """What changes when the file or object is rewritten: size and mtime, or the object's ETag."""
    if not is_uri(location):
        stat = Path(location).stat()
        return f"{stat.st_size}\0{stat.st_mtime_ns}"
    fs, path = filesystem(str(location))
    info = fs.info(path)
    stamp = next((info[k] for k in ("ETag", "etag", "LastModified", "mtime") if info.get(k)), "")
    return f"{info.get('size')}\0{stamp}"


def sha256(location: Ore) -> str:
    if not is_uri(location):
        return sha256_file(Path(location))
    fs, path = filesystem(str(location))
    with fs.open(path, "rb") as fh:
        return sha256_stream(fh)


def root_path(root: str | Path) -> Path:
    """A folder of published versions as a path: local, or a universal path over the object store (the same
    `/`, `read_text`, `iterdir`, `stat`), with fsspec's listing cache emptied so LATEST is read as it is now."""
    if not is_uri(root):
        return Path(root)
    from upath import UPath

    path = UPath(str(root))
    path.fs.invalidate_cache()
    return path


def remove_tree(path: Path) -> None:
    if is_uri(path):
        path.fs.rm(path.path, recursive=True)  # type: ignore[attr-defined]  # a universal path's filesystem
    else:
        shutil.rmtree(path)


def put(local: Path, target: Path) -> None:
    """Upload a file to a universal path, streamed."""
    target.fs.put_file(str(local), target.path)  # type: ignore[attr-defined]


def get(source: Path, local: Path) -> None:
    """Download a folder of a universal path, every file in it, to `local`."""
    source.fs.get(source.path.rstrip("/") + "/", str(local), recursive=True)  # type: ignore[attr-defined]


def copy_checked(source: Path, entries: list[dict], target: Path) -> list[str]:
    """Copy the files `entries` list (`path`, `sha256`) from the universal path `source` into the local folder
    `target`, each hashed as it streams (four at a time); the paths whose bytes did not match."""
    from concurrent.futures import ThreadPoolExecutor

    def one(entry: dict) -> str | None:
        local = target / entry["path"]
        local.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with (source / entry["path"]).open("rb") as remote, local.open("wb") as out:
            while block := remote.read(1 << 20):
                digest.update(block)
                out.write(block)
        return None if digest.hexdigest() == entry["sha256"] else entry["path"]

    with ThreadPoolExecutor(4) as pool:
        return [path for path in pool.map(one, entries) if path]


def arrow_paths(paths: list[Path]) -> tuple[list[str], Any]:
    """Paths and the filesystem for pyarrow's readers: local as they are, objects through the fsspec
    filesystem that reached them (so pyarrow uses the same endpoint and credentials)."""
    if not paths or not is_uri(paths[0]):
        return [str(p) for p in paths], None
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    return [p.path for p in paths], PyFileSystem(FSSpecHandler(paths[0].fs))  # type: ignore[attr-defined]


CONFLICTS = {"PreconditionFailed", "ConditionalRequestConflict"}  # S3's answers when a condition did not hold


def etag(path: Path) -> str | None:
    """The object's ETag (what a conditional write compares; elsewhere its size and time), or None when there is
    no object."""
    try:
        info = path.fs.info(path.path)  # type: ignore[attr-defined]
    except FileNotFoundError:
        return None
    return info.get("ETag") or f"{info.get('size')}:{info.get('mtime') or info.get('updated')}"


def replace_if_unchanged(path: Path, text: str, expected: str | None) -> bool:
    """Write `text` to the object only if it is still as read (ETag `expected`) or still absent (None); False if
    another writer came first. On S3 this is one conditional PUT (`If-Match` / `If-None-Match: *`), so of two
    writers exactly one wins; other filesystems compare and then write, which leaves a window between the two."""
    fs = path.fs  # type: ignore[attr-defined]
    if "s3" not in fs.protocol:
        if etag(path) != expected:
            return False
        path.write_text(text)
        return True
    try:
        fs.pipe_file(path.path, text.encode(), **({"IfMatch": expected} if expected else {"mode": "create"}))  # type: ignore[attr-defined]
    except OSError as error:
        code = getattr(error.__cause__, "response", {}).get("Error", {}).get("Code")
        if isinstance(error, FileExistsError) or code in CONFLICTS:
            return False
        raise
    return True
