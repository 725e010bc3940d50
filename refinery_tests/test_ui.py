"""`refinery ui` is a live instance (webserver and daemon): new or deleted ore refines with nobody launching a run.
Its helpers serve every test of a live instance."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from refinery.catalog import Catalog
from refinery.cli import main
from refinery_tests.synth import document

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
SENSOR_TICKS = """
query($name: String!) {
  sensorOrError(sensorSelector: {repositoryLocationName: "refinery", repositoryName: "__repository__",
                                 sensorName: $name}) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 1) { status } } }
    ... on PythonError { message }
    ... on SensorNotFoundError { message }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _wait(predicate, limit: float, every: float = 1.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(every)
    raise TimeoutError(f"gave up after {limit}s")


@contextmanager
def live_instance(recipe: Path) -> Iterator[int]:
    """`refinery ui` (webserver and daemon) on the test's instance, serving `recipe`; yields the port."""
    port = _free_port()
    env = {**os.environ, "REFINERY_RECIPES": str(recipe)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "refinery.cli", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait(lambda: _graphql(port, "{ version }"), 120)
        yield port
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        assert ui.wait(timeout=60) is not None  # webserver and daemon stop on SIGTERM


def sensor_ticks(port: int, name: str) -> list[dict]:
    """The sensor's latest tick (or none yet)."""
    found = _graphql(port, SENSOR_TICKS, {"name": name})["sensorOrError"]
    assert found["__typename"] == "Sensor", found
    return found["sensorState"]["ticks"]


def test_new_ore_refines_without_anyone_launching_a_run(small_recipe, write_recipe, small_ore, dagster_home):
    """A version made from the shell first: the sensor starting up finds the ore as that run observed it, and
    launches nothing; then a file added and the same file deleted each make a version."""
    automation = {"on_new_ore": True, "observe_every": 5}
    recipe = write_recipe({**small_recipe, "automation": automation, "publish": {"max_drop": None}})
    catalog = Catalog(recipe.parent / "refined")
    assert main(["run", "--recipe", str(recipe)]) == 0
    first = catalog.version("small").id
    with live_instance(recipe) as port:
        (tick,) = _wait(lambda: sensor_ticks(port, "observe_small_ore"), 120)
        assert tick["status"] == "SKIPPED"  # no run at start-up for ore that was refined
        drop = small_ore / "forums" / "day2.jsonl"
        drop.write_text(json.dumps({"post_id": "d2", "body": document(random.Random(4))}) + "\n")
        _wait(lambda: catalog.version("small").id != first, 240, 2)
        second = catalog.version("small")
        assert second.manifest["parent"] == first
        assert "ore/forums/day2.jsonl" in {o["path"] for o in second.manifest["ore"]}
        drop.unlink()  # the ore is as it was at the first version: a change all the same, refined again
        _wait(lambda: catalog.version("small").id != second.id, 240, 2)
        assert "ore/forums/day2.jsonl" not in {o["path"] for o in catalog.version("small").manifest["ore"]}
