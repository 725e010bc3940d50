"""SIGKILL at several moments of a real `refinery run` (each the call of a function, so every moment is reached):
LATEST stays a complete, verified version (old or new), and the next run cleans up after the killed one and
succeeds."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.instance import get_instance

# the moment -> the function whose call a run is SIGKILLed at (looked up at call time, so replaced in the run)
MOMENTS = {
    "deduplicating": "refinery.dedup.stage:_exact",  # the staged parts of dedup are written
    "after the checks": "refinery.publish.stage:_publish_locked",  # the verdicts are written, the lock taken
    "assembling the version": "refinery.publish.stage:_write_datacard",  # the parts are in the temporary folder
    "moving it into place": "refinery.store.commit:set_latest",  # the version is in place, LATEST not yet
}
KILLER = """
import importlib, os, signal, sys
module, path = sys.argv[1].split(":")
owner, _, name = path.rpartition(".")
target = importlib.import_module(module)
for part in filter(None, owner.split(".")):
    target = getattr(target, part)
setattr(target, name, lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
from refinery.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _run_killed_at(recipe_path: Path, moment: str) -> bool:
    """`refinery run` in its own process, SIGKILLed when it calls the moment's function; True if it was."""
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, moment, "run", "--recipe", str(recipe_path)],
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    return proc.returncode == -signal.SIGKILL


def test_a_killed_run_leaves_latest_intact_and_the_next_run_succeeds(
    small_recipe, write_recipe, small_ore, dagster_home
):
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    catalog = Catalog(recipe_path.parent / "refined")
    posts = small_ore / "forums" / "posts.jsonl"
    killed = []
    for i, (name, moment) in enumerate(MOMENTS.items()):
        extra = {"post_id": f"k{i}", "body": f"Post {i} " + "with enough plain words to pass the filters " * 3}
        posts.write_text(posts.read_text() + json.dumps(extra) + "\n")  # new ore: the run would publish
        before = catalog.version("small").id
        if _run_killed_at(recipe_path, moment):
            killed.append(name)
        latest = catalog.version("small")
        latest.verify()  # old or new, always complete
        assert latest.id == before or latest.manifest["parent"] == before
    assert killed == list(MOMENTS)  # at every moment

    assert main(["run", "--recipe", str(recipe_path)]) == 0
    catalog.version("small").verify()
    dataset_dir = recipe_path.parent / "refined" / "small"
    assert not list(dataset_dir.glob(".tmp-*")) and not list(dataset_dir.glob(".LATEST-*"))
    killed_runs = [r for r in get_instance().get_runs() if r.status.value == "FAILURE"]
    assert len(killed_runs) == len(killed)  # marked failed once the next run saw them dead
    staging = recipe_path.parent / "refined" / ".staging" / "small"
    assert len(list(staging.iterdir())) <= 2  # the killed runs' staging is gone


def test_instances_sharing_an_output_leave_each_others_staging_alone(
    small_recipe, write_recipe, tmp_path, dagster_home, monkeypatch
):
    """A run of another instance (another DAGSTER_HOME) is unknown here: its staging is in flight, not finished.
    Staging of an instance gone from this host is abandoned, and goes."""
    recipe_path = write_recipe(small_recipe)
    staging = tmp_path / "refined" / ".staging" / "small"
    other_home = tmp_path / "other_home"
    other_home.mkdir()
    for run_id, home in [("other-run", other_home), ("gone-run", tmp_path / "deleted_home")]:
        (staging / run_id / "ingested-forums").mkdir(parents=True)
        (staging / run_id / ".owner").write_text(json.dumps({"instance": str(home), "host": os.uname().nodename}))
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert (staging / "other-run" / "ingested-forums").exists()
    assert not (staging / "gone-run").exists()


def test_a_run_after_a_disk_full_failure_cleans_what_it_left_and_succeeds(
    small_recipe, write_recipe, tmp_path, dagster_home
):
    """On a filesystem with room for one run's staging and a version but not two runs' staging: a run that failed
    (here, at the gate) must not make every later run fail for want of space."""
    out = tmp_path / "refined"
    out.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(out)], capture_output=True)
    if mounted.returncode:
        import pytest

        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        failing = {**small_recipe, "publish": {"min_refined": 10**6}}  # fails after every step has staged its files
        assert main(["run", "--recipe", str(write_recipe(failing))]) == 1
        used = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        # room for what is there, one more run's staging and a version, but not for a second run's staging
        subprocess.run(["mount", "-o", f"remount,size={int(used * 2.6)}", str(out)], check=True)
        assert main(["run", "--recipe", str(write_recipe(small_recipe))]) == 0
        assert Catalog(out).version("small").manifest["counts"]["refined"] > 0
        runs = [p for p in (out / ".staging" / "small").iterdir() if p.is_dir()]
        assert len(runs) == 1  # the failed run's staging went
    finally:
        subprocess.run(["umount", "-l", str(out)])


def test_a_failure_after_the_commit_says_what_was_published(small_recipe, write_recipe, dagster_home):
    """A run that fails after its version became LATEST (here: retention, which runs after the commit, raises)
    must not say that nothing was published."""
    failing = KILLER.replace(
        "lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)",
        "lambda *a, **k: (_ for _ in ()).throw(OSError(28, 'No space left'))",
    )
    recipe_path = write_recipe(small_recipe)
    done = subprocess.run(
        [sys.executable, "-c", failing, "refinery.catalog:Catalog.prune", "run", "--recipe", str(recipe_path)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    latest = Catalog(recipe_path.parent / "refined").version("small").id
    assert done.returncode == 1 and f"failed; after publishing: LATEST is {latest}" in done.stdout


# a moment -> the function whose call kills the run, and the assets the resumed run still has to make
RESUME_AT = {
    "deduplicating": ("refinery.dedup:deduplicate", ["deduplicated", "cleaned", "published"]),
    "cleaning": ("refinery.clean:clean", ["cleaned", "published"]),
    "assembling the version": ("refinery.publish.stage:_write_datacard", ["published"]),
}


def test_a_killed_run_resumes_from_its_last_finished_step(small_recipe, write_recipe, tmp_path, dagster_home, capsys):
    """`refinery run --resume` after a kill at three moments: what the killed run finished is loaded, not made
    again (its materializations stay the latest), and the version equals one made from scratch."""
    assert main(["run", "--recipe", str(write_recipe({**small_recipe, "output": "fresh"}, "fresh.yaml"))]) == 0
    expected = Catalog(tmp_path / "fresh").version("small").manifest["content_hash"]
    instance = get_instance()
    for i, (moment, (function, todo)) in enumerate(RESUME_AT.items()):
        recipe_path = write_recipe({**small_recipe, "output": f"out-{i}"}, f"out-{i}.yaml")
        assert _run_killed_at(recipe_path, function), moment
        (killed,) = instance.get_runs(limit=1)
        capsys.readouterr()
        assert main(["run", "--recipe", str(recipe_path), "--resume"]) == 0, moment
        out = capsys.readouterr().out
        assert f"Run {killed.run_id} died before it finished" in out
        assert f"Resuming run {killed.run_id}: {', '.join(todo)}" in out, out
        for key in ["ingested_forums", "ingested_export", "deduplicated", "cleaned"]:
            made_by = instance.fetch_materializations(dg.AssetKey(["small", *key.split("/")]), limit=1).records
            assert (made_by[0].run_id == killed.run_id) == (key.split("/")[0] not in todo), (moment, key)
        version = Catalog(tmp_path / f"out-{i}").version("small")
        version.verify()
        assert version.manifest["content_hash"] == expected, moment
    assert main(["run", "--recipe", str(recipe_path), "--resume"]) == 2  # the last run succeeded
    assert "nothing to resume" in capsys.readouterr().out


COUNTER = """
import functools, importlib, os, signal, sys
module, name, log, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
target = importlib.import_module(module)
real = getattr(target, name)

@functools.wraps(real)  # the same step to the shard runtime's fingerprint
def counted(*args, **kwargs):
    shard = args[-1]
    with open(log, "a") as fh:
        fh.write(repr(shard) + "\\n")
    if sum(1 for _ in open(log)) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)

setattr(target, name, counted)
from refinery.cli import main
sys.exit(main(sys.argv[5:]))
"""

# a step -> the shard function a run is killed in (at its third shard), and the environment that gives it shards
# it runs in this process
SHARDED = {
    "ingest": (
        "refinery.ingest.readers",
        "_ingest_shard",
        {"REFINERY_WORKERS": "2", "REFINERY_SIZES": "range_bytes=3000"},
    ),
    "clean": ("refinery.clean.stage", "_clean_shard", {"REFINERY_WORKERS": "1", "REFINERY_SIZES": "clean_rows=8"}),
    # the blocking GX check, killed after the asset it checks was made: the resumed run runs the check again
    "gate": ("refinery.validate.suite", "_gx_on_text", {"REFINERY_WORKERS": "1", "REFINERY_SIZES": "gx_rows=8"}),
}
LONG_TEXT = {
    "expectation": "expect_column_value_lengths_to_be_between",
    "kwargs": {"column": "text", "max_value": 10**6},
}


def test_a_killed_step_resumes_from_the_shards_it_finished(small_recipe, write_recipe, tmp_path, dagster_home):
    """Killed at its third shard, a step run again by `refinery run --resume` runs only the shards the killed
    run did not finish (counted by a wrapper around the shard function, not by the runtime), and the version
    equals one made from scratch."""
    small_recipe = {**small_recipe, "validate": {"expectations": [LONG_TEXT]}}  # GX's own shards, on `text`
    fresh = write_recipe({**small_recipe, "output": "fresh"}, "fresh.yaml")  # default sizes: the bytes are the same
    assert main(["run", "--recipe", str(fresh)]) == 0
    expected = Catalog(tmp_path / "fresh").version("small").manifest["content_hash"]
    for i, (step, (module, name, env)) in enumerate(SHARDED.items()):
        environ = {**os.environ, **env}
        recipe_path = write_recipe({**small_recipe, "output": f"out-{i}"}, f"out-{i}.yaml")
        killed, resumed = tmp_path / f"killed-{i}.log", tmp_path / f"resumed-{i}.log"
        counted = [sys.executable, "-c", COUNTER, module, name]
        run = ["run", "--recipe", str(recipe_path)]
        assert subprocess.run([*counted, str(killed), "3", *run], env=environ).returncode == -signal.SIGKILL, step
        assert subprocess.run([*counted, str(resumed), "0", *run, "--resume"], env=environ).returncode == 0, step
        started = killed.read_text().splitlines()
        finished, rest = started[:2], resumed.read_text().splitlines()
        assert finished and not set(finished) & set(rest), (step, started, rest)  # not run again
        assert started[2] in rest and len(rest) >= 2, (step, rest)  # the killed shard and those after it ran
        version = Catalog(tmp_path / f"out-{i}").version("small")
        version.verify()
        assert version.manifest["content_hash"] == expected, step


def test_a_run_whose_driver_vanished_is_marked_failed_by_the_lost_runs_sensor(
    small_recipe, write_recipe, dagster_home, monkeypatch
):
    """A killed driver leaves its run STARTED (no process left to say otherwise); once it has missed its beats,
    the daemon's sensor marks it failed with a refinery line. A run still beating is left alone."""
    from refinery.defs.liveness import ALIVE_AT, LOST_AFTER, lost_run_sensor, lost_runs

    beat = 0.25
    monkeypatch.setenv("REFINERY_HEARTBEAT_SECONDS", str(beat))
    assert _run_killed_at(write_recipe(small_recipe), "refinery.clean:clean")
    instance = get_instance()
    (run,) = instance.get_runs(limit=1)
    record = instance.get_run_record_by_id(run.run_id)
    assert run.status == dg.DagsterRunStatus.STARTED
    alive_at = float(run.tags[ALIVE_AT])
    assert alive_at > record.start_time + beat  # it beat while it ran, not only at its start
    assert lost_runs(instance, now=alive_at + (LOST_AFTER - 1) * beat) == []  # too few beats missed to call it lost
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    time.sleep(max(0, alive_at + (LOST_AFTER + 1) * beat - time.time()))
    skipped = lost_run_sensor(dg.build_sensor_context(instance=instance))
    assert run.run_id in skipped.skip_message
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.PIPELINE_FAILURE)
    assert f"refinery: lost run {run.run_id}" in failure.message


def test_the_alive_stamp_is_the_time_the_run_beat(dagster_home):
    """The stamp says when the driver beat, to the millisecond: a stamp rounded to the second can read as before
    the run began or after the step that saw it, and a lost-run decision made at a beat of a second goes wrong."""
    from refinery.defs.liveness import ALIVE_AT
    from refinery.defs.refine.resources import EngineResource

    seen = {}

    @dg.asset
    def beating(context: dg.AssetExecutionContext, engine: EngineResource) -> None:
        seen["stamp"] = float(context.instance.get_run_by_id(context.run_id).tags[ALIVE_AT])
        seen["at"] = time.time()

    instance = get_instance()
    result = dg.materialize([beating], resources={"engine": EngineResource(kind="local")}, instance=instance)
    started = instance.get_run_record_by_id(result.run_id).start_time
    assert started <= seen["stamp"] <= seen["at"]
