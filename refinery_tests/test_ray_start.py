"""A Ray cluster started the way operators start one: `ray start --head` and `ray start --address` processes with
token authentication (Ray's token file), and `refinery run --ray-address` on it gives the local content hash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from refinery.catalog import Catalog
from refinery.cli import main

ray = pytest.importorskip("ray")
RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(args: list[str], env: dict, stack: ExitStack) -> None:
    """One `ray start --block` process (a node), stopped by its process group at the end: never `ray stop`."""
    node = subprocess.Popen(
        [RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def stop() -> None:  # the node's processes share its group; SIGTERM took 30 s to stop them
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=30)

    stack.callback(stop)


@pytest.fixture
def token_cluster(tmp_path: Path, monkeypatch) -> Iterator[str]:
    """A head and a worker node in their own processes; the token lives where `ray get-auth-token --generate`
    puts it (`~/.ray/auth_token`, under a HOME of the test's own). Yields the head's address."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(home)}
    subprocess.run([RAY, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60)
    assert (home / ".ray" / "auth_token").is_file()
    env |= {"RAY_AUTH_MODE": "token"}  # the nodes run with authentication on
    address = f"127.0.0.1:{_free_port()}"
    with ExitStack() as stack:
        _node(["--head", f"--port={address.rsplit(':', 1)[1]}", "--include-dashboard=false"], env, stack)
        time.sleep(3)
        _node([f"--address={address}"], env, stack)
        for key in [k for k in os.environ if k.startswith("RAY_")]:
            monkeypatch.delenv(key)  # the driver knows nothing but the token file, as on an operator's machine
        monkeypatch.setenv("HOME", str(home))
        yield address
        ray.shutdown()


def test_a_cluster_started_with_ray_start_and_a_token_gives_the_local_content_hash(
    token_cluster, small_recipe, write_recipe, tmp_path, dagster_home
):
    local = write_recipe({**small_recipe, "output": "local"}, "local.yaml")
    assert main(["run", "--recipe", str(local), "--engine", "local"]) == 0
    on_ray = write_recipe({**small_recipe, "output": "on-ray"}, "on-ray.yaml")
    assert main(["run", "--recipe", str(on_ray), "--engine", "ray", "--ray-address", token_cluster]) == 0
    expected = Catalog(tmp_path / "local").version("small").manifest
    manifest = Catalog(tmp_path / "on-ray").version("small").manifest
    assert manifest["content_hash"] == expected["content_hash"]
    nodes = {node for stage in manifest["stages"]["engine"].values() for node in stage["nodes"]}
    assert len(nodes) == 2  # both `ray start` nodes ran shards
