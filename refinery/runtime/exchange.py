"""How a stage's shards reach the run's files when the machines they run on share no disk.

A stage hands its shards locations, not paths: `Exchange.share` gives the location of an input file,
`Exchange.parts` the folder a shard writes its parts to, and `Exchange.gather` brings those parts into the run's
staging folder on this machine. Without a root, every node sees the run's staging folder (one machine, or a
shared volume) and the locations are the files themselves. With a root URI (`s3://bucket/exchange`), a stage's
inputs are uploaded there once and its shards' parts are written there and downloaded here: the bytes cross the
network once each way, and the stage's folder is deleted when it ends. A shard writes a part through `output`,
so the part appears whole or not at all (a retried shard writes it again).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from refinery.storage import filesystem, is_uri


class Exchange:
    """One stage's exchange of files with its shards; use it as a context manager so its folder goes with it."""

    def __init__(self, root: str | None = None) -> None:
        self.folder = f"{root.rstrip('/')}/{uuid.uuid4().hex}" if root else None
        self.moved = 0  # bytes uploaded and downloaded

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.folder:
            fs, path = filesystem(self.folder)
            if fs.exists(path):
                fs.rm(path, recursive=True)

    def share(self, path: Path) -> str:
        """Where shards read the file at `path`: the file itself, or its copy in the exchange."""
        if not self.folder:
            return str(path)
        uri = f"{self.folder}/inputs/{uuid.uuid4().hex[:8]}-{path.name}"
        fs, remote = filesystem(uri)
        fs.put_file(str(path), remote)
        self.moved += path.stat().st_size
        return uri

    def parts(self, local: Path) -> str:
        """Where shards write the parts that end up in the local folder `local`."""
        local.mkdir(parents=True, exist_ok=True)
        return f"{self.folder}/{local.name}-{uuid.uuid4().hex[:8]}" if self.folder else str(local)

    def gather(self, location: str, local: Path) -> None:
        """The parts written under `location`, into `local` (where they already are without an exchange)."""
        if not self.folder:
            return
        fs, remote = filesystem(location)
        for name in fs.find(remote):
            target = local / name.rsplit("/", 1)[-1]
            fs.get_file(name, str(target))
            self.moved += target.stat().st_size


@contextmanager
def output(location: str) -> Iterator[Path]:
    """A local file to write the part at `location` to: it appears there whole when the block ends (renamed into
    place, or uploaded in one PUT), and not at all if the block fails."""
    if is_uri(location):
        with tempfile.TemporaryDirectory(prefix="refinery-part-") as folder:
            path = Path(folder) / location.rsplit("/", 1)[-1]
            yield path
            fs, remote = filesystem(location)
            fs.put_file(str(path), remote)
        return
    target = Path(location)
    temporary = target.with_name(f".{os.getpid()}-{target.name}")  # hidden from globs; keeps its suffix
    try:
        yield temporary
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
