"""The Ray engine on a real two-node Ray cluster on this machine: the same recipe gives the same content hash as
the local engine, the manifest names the nodes that ran the shards, and losing a node mid-run either heals
(tasks retried elsewhere) or fails with nothing published."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.publish import stage as publish_stage
from refinery_tests.conftest import s3_environment
from refinery_tests.synth import document, near_variant

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

DOCS = 24_000  # three cleaning and dedup shards of 10,000 rows


@pytest.fixture(scope="module")
def s3_env(s3_endpoint):
    """The object store's endpoint and credentials in the environment before the nodes start, as a deployment
    puts them in every node's (on KubeRay: the pod spec); the nodes' workers inherit them."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3_environment(s3_endpoint).items():
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def cluster(s3_env):
    """A head and a worker node, one CPU each: two raylets, as on two machines."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster, worker
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def ore(tmp_path_factory) -> Path:
    rng = random.Random(3)
    folder = tmp_path_factory.mktemp("ray-ore")
    texts: list[str] = []
    for _ in range(DOCS):
        texts.append(near_variant(rng, rng.choice(texts)) if texts and rng.random() < 0.1 else document(rng, 6))
    lines = [json.dumps({"id": f"p{i}", "body": t}) + "\n" for i, t in enumerate(texts)]
    for part in range(3):  # three files: three ingest shards
        (folder / f"posts-{part}.jsonl").write_text("".join(lines[part::3]))
    return folder


def _recipe(folder: Path, ore: Path | str, output: str) -> Path:
    path = folder / f"{output.rsplit('/', 1)[-1]}.yaml"
    source = {"name": "posts", "format": "jsonl", "path": f"{ore}/*.jsonl", "text_field": "body", "id_field": "id"}
    path.write_text(
        json.dumps(
            {
                "dataset": "scale",
                "output": output,
                "ore_roots": [str(ore)] if isinstance(ore, Path) else [],
                "sources": [{**source, "license": "CC0-1.0"}],
                "clean": {"filters": {"languages": ["en"]}},
            }
        )
    )
    return path


def test_ray_gives_the_local_content_hash_and_records_its_nodes(cluster, ore, tmp_path, dagster_home, monkeypatch):
    head, _ = cluster
    monkeypatch.setattr(publish_stage, "PART_ROWS", 10_000)  # several parts, each a task
    assert main(["run", "--recipe", str(_recipe(tmp_path, ore, "local")), "--engine", "local"]) == 0
    recipe = _recipe(tmp_path, ore, "on-ray")
    assert main(["run", "--recipe", str(recipe), "--engine", "ray", "--ray-address", head.address]) == 0
    local = Catalog(tmp_path / "local").version("scale").manifest
    on_ray = Catalog(tmp_path / "on-ray").version("scale").manifest
    assert on_ray["content_hash"] == local["content_hash"]
    assert on_ray["counts"] == local["counts"]
    engine = on_ray["stages"]["engine"]
    assert {stage["engine"] for stage in engine.values()} == {"ray"}
    assert (engine["ingest"]["tasks"], engine["clean"]["tasks"]) == (3, 3) and engine["dedup"]["tasks"] >= 3
    refined_parts = sum(f["kind"] == "refined" for f in on_ray["files"])
    assert refined_parts >= 2 and engine["publish"]["tasks"] == refined_parts + 1  # and one part of removed rows
    assert len({node for stage in engine.values() for node in stage["nodes"]}) >= 2
    # signing batches travel to their tasks; a cleaning shard reads its rows and writes its parts itself
    assert engine["dedup"]["bytes_moved"] > 0 == engine["clean"]["bytes_moved"]
    assert local["stages"]["engine"]["clean"] == {"engine": "local", "nodes": ["local"], "tasks": 3}


def test_losing_a_node_mid_run_heals_with_the_same_content_hash(cluster, ore, tmp_path, dagster_home):
    head, _ = cluster
    extra = head.add_node(num_cpus=1)
    head.wait_for_nodes()
    recipe = _recipe(tmp_path, ore, "faulty")
    outcome: list[int] = []
    run = threading.Thread(
        target=lambda: outcome.append(
            main(["run", "--recipe", str(recipe), "--engine", "ray", "--ray-address", head.address])
        )
    )
    run.start()
    staging = tmp_path / "faulty"
    deadline = time.monotonic() + 120
    while not any(staging.rglob("cleaned")) and time.monotonic() < deadline:  # the cleaning stage has begun
        time.sleep(0.05)
    assert run.is_alive(), "the run ended before the node was lost"
    head.remove_node(extra)
    run.join(timeout=600)
    assert outcome == [0], "the run did not heal: Ray retries the lost node's tasks on the others"
    healed = Catalog(staging).version("scale").manifest
    assert main(["run", "--recipe", str(_recipe(tmp_path, ore, "reference")), "--engine", "local"]) == 0
    assert healed["content_hash"] == Catalog(tmp_path / "reference").version("scale").manifest["content_hash"]


def test_ore_and_output_in_s3_on_the_cluster(cluster, ore, tmp_path, dagster_home):
    """Nodes read ore objects themselves and the version lands in the bucket: the rows are those of the same ore
    read from disk by the local engine."""
    import fsspec

    head, _ = cluster
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("ray-bucket")
    fs.put(f"{ore}/", "ray-bucket/ore/", recursive=True)
    on_disk = _recipe(tmp_path, ore, "disk")
    in_s3 = _recipe(tmp_path, "s3://ray-bucket/ore", "s3://ray-bucket/refined")
    assert main(["run", "--recipe", str(on_disk), "--engine", "local"]) == 0
    assert main(["run", "--recipe", str(in_s3), "--engine", "ray", "--ray-address", head.address]) == 0
    local, remote = Catalog(tmp_path / "disk").version("scale"), Catalog("s3://ray-bucket/refined").version("scale")
    remote.verify()
    columns = ["doc_id", "source_id", "text", "line"]
    assert remote.scan().select(columns).collect().equals(local.scan().select(columns).collect())
    assert remote.manifest["counts"] == local.manifest["counts"]
    ingest = remote.manifest["stages"]["engine"]["ingest"]
    assert (ingest["engine"], ingest["tasks"]) == ("ray", 3)  # a task per object, each reading it on its node


@pytest.fixture
def diskless_node(cluster, tmp_path):
    """A third node that shares no disk with the driver: the test's folder (the run's staging, its publish folder)
    is hidden from it by an empty tmpfs mounted over it, in a mount namespace of its own (checked: a file written
    there is not found by a task on that node)."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("needs mount namespaces (unshare -m) to hide the driver's disk from a node")
    head, _ = cluster
    if not ray.is_initialized():
        ray.init(address=head.address, log_to_driver=False)
    before = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    start = f"{Path(sys.executable).parent / 'ray'} start --address={head.address} --num-cpus=1 --block"
    node = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {tmp_path} && exec {start}"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (new := {n["NodeID"] for n in ray.nodes() if n["Alive"]} - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert new, "the diskless node did not join"
    (node_id,) = new
    marker = tmp_path / "on-the-drivers-disk"
    marker.touch()
    on_node = NodeAffinitySchedulingStrategy(node_id, soft=False)
    assert ray.get(ray.remote(os.path.exists).options(scheduling_strategy=on_node).remote(str(marker))) is False
    ray.shutdown()  # the run connects by itself
    yield node_id
    os.killpg(node.pid, signal.SIGTERM)
    node.wait(timeout=60)


def test_nodes_that_share_no_disk_work_through_an_exchange_in_s3(
    cluster, diskless_node, tmp_path, dagster_home, monkeypatch
):
    """Ore and the shards' files in S3, the run's staging and versions on the driver's disk only: the run gives the
    content hash of the local engine, with tasks on the node that cannot see that disk."""
    import fsspec

    head, _ = cluster
    monkeypatch.setattr(publish_stage, "PART_ROWS", 2_000)  # parts enough for every node
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("diskless")
    rng = random.Random(5)
    texts = [document(rng, 6) for _ in range(DOCS // 2)]
    texts += [near_variant(rng, t) for t in texts[:500]]
    for part in range(3):
        fs.pipe(
            f"diskless/ore/posts-{part}.jsonl",
            "".join(
                json.dumps({"id": f"p{i}", "body": t}) + "\n" for i, t in enumerate(texts) if i % 3 == part
            ).encode(),
        )
    recipe = _recipe(tmp_path, "s3://diskless/ore", "refined")
    assert main(["run", "--recipe", str(recipe), "--engine", "local"]) == 0
    local = Catalog(tmp_path / "refined").version("scale").manifest
    shutil.rmtree(tmp_path / "refined")
    address = ["--engine", "ray", "--ray-address", head.address]
    assert main(["run", "--recipe", str(recipe), *address, "--exchange", "s3://diskless/exchange"]) == 0
    on_ray = Catalog(tmp_path / "refined").version("scale").manifest
    assert on_ray["content_hash"] == local["content_hash"] and on_ray["counts"] == local["counts"]
    engine = on_ray["stages"]["engine"]
    assert diskless_node[:12] in {node for stage in engine.values() for node in stage["nodes"]}
    assert all(engine[stage]["bytes_exchanged"] > 0 for stage in ("ingest", "dedup", "clean", "publish"))
    assert fs.find("diskless/exchange") == []  # each stage removed its exchange folder


def test_losing_the_head_mid_run_fails_the_run_at_once_with_a_refinery_line(ore, tmp_path, dagster_home):
    """A cluster of its own, whose head (its GCS) is killed while the driver's node lives on, as when the head's
    machine is lost and the driver runs elsewhere: the driver notices within seconds, marks the Dagster run failed
    and exits with a refinery line, instead of dying a minute later with Ray's log only and leaving the run
    STARTED. (A driver on the lost machine itself goes with it; the next `refinery run` marks its run failed.)"""
    from refinery.instance import get_instance

    doomed = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    doomed.add_node(num_cpus=1)
    doomed.wait_for_nodes()
    recipe = _recipe(tmp_path, ore, "headless")
    command = [sys.executable, "-m", "refinery.cli", "run", "--recipe", str(recipe), "--engine", "ray"]
    run = subprocess.Popen(
        [*command, "--ray-address", doomed.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not any((tmp_path / "headless").rglob("cleaned")) and time.monotonic() < deadline:
            time.sleep(0.05)  # the cleaning stage has begun
        assert run.poll() is None, "the run ended before the head was lost"
        doomed.head_node.kill_gcs_server()
        err, _ = run.communicate(timeout=60)
    finally:
        run.kill()
        with contextlib.suppress(Exception):
            doomed.shutdown()
    assert run.returncode == 1 and "refinery: lost the Ray cluster" in err, err[-3000:]
    (failed,) = get_instance().get_runs(limit=1)
    assert failed.status.value == "FAILURE"
