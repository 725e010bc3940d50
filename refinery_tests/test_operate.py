"""Operating a live instance (webserver and daemon): the queue holds one run of a dataset at a time, a failed run
is alerted to the configured webhook and not retried, and a broken recipe fails the location."""

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest
import yaml

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.errors import RecipeError
from refinery.instance import PROJECT_ROOT, get_instance
from refinery_tests.test_ui import LAUNCH, _graphql, _wait, live_instance, sensor_ticks

JOB_RUNS = """
query($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) { ... on Pipeline { runs { runId } } }
}"""

RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }"
STALE = """
query { assetNodes(group: {groupName: "small", repositoryName: "__repository__", repositoryLocationName: "refinery"}) {
  assetKey { path } staleStatus isObservable assetObservations(limit: 1) { metadataEntries { label } }
  staleCauses { key { path } reason dependency { path } }
} }"""
POSTGRES_FROM_ENV = {"postgres_url": {"env": "REFINERY_POSTGRES_URL"}}
ASSET_JOB = "__ASSET_JOB"  # what "Materialize all" launches: the selected assets, without the recipe's job


def _launch(port: int, job: str, assets: list[list[str]] | None = None) -> str:
    selector = {"repositoryLocationName": "refinery", "repositoryName": "__repository__", "jobName": job}
    if assets:
        selector["assetSelection"] = [{"path": path} for path in assets]
    launched = _graphql(port, LAUNCH, {"params": {"selector": selector}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_runs_of_a_dataset_queue_and_a_failure_alerts_once_without_retry(
    small_recipe, write_recipe, small_ore, tmp_path, dagster_home, monkeypatch
):
    """Also: a "Materialize all" leaves the ore out, yet its assets are not "Unsynced" once the ore is observed
    again (the ore changed after the sensor's last observation, so only the ingest could have observed it)."""
    small = write_recipe(small_recipe, "small.yaml")
    assert main(["run", "--recipe", str(small)]) == 0  # a run from the shell, in the job's history like the UI's
    cli_run = Catalog(tmp_path / "refined").version("small").manifest["dagster_run_id"]
    write_recipe({**small_recipe, "dataset": "failing", "publish": {"min_refined": 10**9}}, "failing.yaml")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REFINERY_ALERT", f"http://127.0.0.1:{server.server_port}/hook")
    with live_instance(tmp_path / "*.yaml") as port:
        for sensor in ("refinery_run_failures", "observe_small_ore"):  # failures are watched from the first tick
            _wait(lambda: sensor_ticks(port, sensor), 120)  # noqa: B023
        posts = small_ore / "forums" / "posts.jsonl"
        posts.write_text(posts.read_text() + json.dumps({"post_id": "late", "body": "a late post"}) + "\n")
        everything = [["small", *p] for p in (["ingested_forums"], ["ingested_export"], ["deduplicated"])]
        everything += [["small", "cleaned"], ["small", "published"]]  # not the ore: the UI does not select it
        runs = [_launch(port, ASSET_JOB, everything), _launch(port, "refine_small"), _launch(port, "refine_failing")]
        done = {"SUCCESS", "FAILURE", "CANCELED"}

        def finished():
            found = [_graphql(port, RUN, {"id": r})["runOrError"] for r in runs]
            return all(f["status"] in done for f in found) and found

        first, second, failing = _wait(finished, 300, 2)
        assert [first["status"], second["status"], failing["status"]] == ["SUCCESS", "SUCCESS", "FAILURE"]
        job = {"repositoryLocationName": "refinery", "repositoryName": "__repository__", "pipelineName": "refine_small"}
        history = {r["runId"] for r in _graphql(port, JOB_RUNS, {"selector": job})["pipelineOrError"]["runs"]}
        assert {cli_run, runs[1]} <= history
        one, two = sorted([first, second], key=lambda r: r["startTime"])
        assert one["endTime"] <= two["startTime"]  # one run of a dataset at a time, however they were launched
        ore = [["small", "ore_forums"], ["small", "ore_export"]]
        observed = _launch(port, ASSET_JOB, ore)  # the UI's "Observe sources"
        _wait(lambda: _graphql(port, RUN, {"id": observed})["runOrError"]["status"] == "SUCCESS", 120)
        nodes = _graphql(port, STALE)["assetNodes"]
        assert {tuple(n["assetKey"]["path"]): n["staleStatus"] for n in nodes if not n["isObservable"]} == {
            tuple(p): "FRESH" for p in everything
        }, nodes  # the run that left the ore out observed it all the same: nothing "Unsynced"
        observed = [n["assetObservations"] for n in nodes if n["isObservable"]]
        assert len(observed) == 2 and all(
            {"files", "bytes"} <= {e["label"] for e in o[0]["metadataEntries"]} for o in observed
        )
        alert = _wait(lambda: [a for a in _Webhook.received if a["run_id"] == runs[2]], 120)[0]
        assert alert["dataset"] == "failing" and alert["job"] == "refine_failing"
        assert "failing" in alert["text"] and alert["steps"]  # which step failed, and its error
        retries = dg.RunsFilter(tags={"dagster/parent_run_id": runs[2]})
        assert get_instance().get_runs(filters=retries) == []  # a run that failed in a step is not run again
    server.shutdown()


def test_a_broken_recipe_fails_the_location_and_validation(small_recipe, write_recipe, tmp_path):
    from refinery.definitions import build_definitions

    good = write_recipe(small_recipe)
    broken = write_recipe({**small_recipe, "dataset": "other", "dedupe": {}}, "broken.yaml")
    with pytest.raises(
        RecipeError, match=r"(?s)1 of 2 recipes do not load:\n.*broken.yaml: invalid recipe.*dedupe: unknown key"
    ):
        build_definitions([broken, good])
    (tmp_path / "home").mkdir()
    shutil.copy(Path(__file__).parents[1] / "dagster.yaml", tmp_path / "home")  # pools limited by default
    env = {**os.environ, "REFINERY_RECIPES": str(tmp_path / "*.yaml"), "DAGSTER_HOME": str(tmp_path / "home")}
    validate = [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "refinery.definitions"]
    checked = subprocess.run(validate, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode != 0 and "dedupe: unknown key" in checked.stdout + checked.stderr
    broken.unlink()
    assert subprocess.run(validate, env=env, capture_output=True, timeout=120).returncode == 0
    pools = dg.DagsterInstance.from_config(str(tmp_path / "home")).event_log_storage.get_concurrency_keys()
    assert "refinery_small" in pools  # registered as the location loaded beside the instance


def test_instance_settings_that_differ_warn_and_an_unset_variable_is_one_line(
    small_recipe, write_recipe, dagster_home, capsys
):
    recipe = str(write_recipe(small_recipe))
    dagster_home.mkdir()
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump({**config, "storage": {"postgres": POSTGRES_FROM_ENV}}))
    assert main(["run", "--recipe", recipe]) == 2
    out = capsys.readouterr().out
    assert "REFINERY_POSTGRES_URL" in out and "not set" in out and "Traceback" not in out
    assert "differ from the project's" in out  # the instance's settings are not the project's: said first
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--recipe", recipe]) == 0
    assert "differ from the project's" not in capsys.readouterr().out
