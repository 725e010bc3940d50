"""`refinery ui` is a live instance: a run launched through the webserver's GraphQL API is queued, picked up by
the daemon, and succeeds."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from refinery.catalog import Catalog

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
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


def test_a_run_launched_through_the_webserver_succeeds(small_recipe, write_recipe, dagster_home):
    recipe = write_recipe(small_recipe)
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
        selector = {"repositoryLocationName": "refinery", "repositoryName": "__repository__", "jobName": "refine_small"}
        launched = _wait(lambda: _graphql(port, LAUNCH, {"params": {"selector": selector}})["launchRun"], 60)
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        finished = {"SUCCESS", "FAILURE", "CANCELED"}
        status = _wait(
            lambda: (s := _graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]) in finished and s, 240, 2
        )
        assert status == "SUCCESS"
        v = Catalog(recipe.parent / "refined").version("small")
        assert v.manifest["dagster_run_id"] == run_id
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)
