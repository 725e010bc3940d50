"""A real, unprivileged PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder, a free
port and a socket folder of its own; started and stopped by a fixture. As root, the server runs as the `postgres`
user (initdb and pg_ctl refuse root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yields a SQLAlchemy URL of an empty database `dagster`."""
    bin_dir = pg_bin()
    assert bin_dir, "no PostgreSQL server: `make test` installs Debian's postgresql"
    root = Path(tempfile.mkdtemp(prefix="refinery-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    root.chmod(0o755)
    if os.geteuid() == 0:
        for path in (root, sockets):
            shutil.chown(path, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run(_as_owner([str(bin_dir / cmd[0]), *cmd[1:]]), check=True, capture_output=True)  # noqa: E731
    run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {sockets} -c listen_addresses=''"
    run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        run("createdb", "-h", str(sockets), "-p", str(port), "-U", "postgres", "dagster")
        yield f"postgresql+psycopg2://postgres@/dagster?host={sockets}&port={port}"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
