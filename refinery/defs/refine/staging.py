"""Where a run keeps its intermediate Parquet: `<output>/.staging/<dataset>/<run id>/<step>/`.

Only `published` creates a version; a failed run leaves staging files behind for inspection, never a version.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from refinery.recipe import Recipe
from refinery.runtime.shards import DONE

OWNER = ".owner"  # who made a run's staging: the instance (its DAGSTER_HOME) and host
ROOT_RUN, PARENT_RUN = "dagster/root_run_id", "dagster/parent_run_id"


def _me() -> dict:
    return {"instance": str(Path(os.environ.get("DAGSTER_HOME", ".")).resolve()), "host": socket.gethostname()}


def staging_dir(recipe: Recipe, run, step: str) -> Path:
    """The step's folder in the run's staging. A re-execution's step starts with the parts its parent run's
    attempt at it finished (`refinery.runtime.shards`: those shards are not run again)."""
    run_dir = recipe.output_dir / ".staging" / recipe.dataset / run.run_id
    path = run_dir / step
    fresh = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    if not (run_dir / OWNER).exists():
        (run_dir / OWNER).write_text(json.dumps(_me()))
    if fresh and (parent := run.tags.get(PARENT_RUN)):
        inherit_parts(run_dir.parent / parent / step, path)
    return path


def inherit_parts(before: Path, step: Path) -> None:
    """Hard links to the finished shards' parts and markers under `before`, at the same places under `step`: no
    copy, and the parent's files stay as they were when the step replaces a part."""
    for done in before.rglob(DONE) if before.is_dir() else []:
        for file in (f for f in done.parent.rglob("*") if f.is_file()):
            target = step / file.relative_to(before)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(file, target)
            except OSError:  # another filesystem, or one without hard links
                shutil.copy2(file, target)


def _mine(run_dir: Path) -> bool | None:
    """Whether this instance may judge a run's staging: True for its own (or one whose instance is gone from
    this host: abandoned), False for another instance's, None when nobody signed it (older code)."""
    try:
        owner = json.loads((run_dir / OWNER).read_text())
    except (OSError, ValueError):
        return None
    me = _me()
    if owner.get("instance") == me["instance"]:
        return True
    return owner.get("host") == me["host"] and not Path(owner.get("instance", "")).exists()


def run_status(instance, failed_only: bool = False) -> Callable[[str], bool | None]:
    """For `prune_staging`: whether a run of `instance` is finished (with `failed_only`: failed or canceled),
    None when the instance does not know it."""
    from dagster import DagsterRunStatus

    def status(run_id: str) -> bool | None:
        run = instance.get_run_by_id(run_id)
        if run is None:
            return None
        return run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED) if failed_only else run.is_finished

    return status


def run_family(instance, run) -> set[str]:
    """The runs a re-execution builds on: its root run and every run re-executing it (the UI's "Re-execute from
    failure", `refinery run --resume`); for a first run, itself alone."""
    from dagster import RunsFilter

    root = run.tags.get(ROOT_RUN, run.run_id)
    return {root, run.run_id} | {r.run_id for r in instance.get_runs(filters=RunsFilter(tags={ROOT_RUN: root}))}


def prune_failed(recipe: Recipe, instance, run) -> list[str]:
    """At a step's start: free the space failed runs held, but not what this run resumes."""
    return prune_staging(recipe, [], run_status(instance, failed_only=True), run_family(instance, run))


def resume_point(job, instance) -> tuple[list, set, dict[str, str]]:
    """What `refinery run --resume` runs, as a re-execution of the job's latest run when that run failed (or was
    killed, and marked failed): the assets neither it nor the runs it resumed materialized, and the checks of every
    asset to run, or of an asset it made, that did not complete there (a run killed while checking made the asset,
    not its verdicts: publishing would refuse without them)."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

    from refinery.errors import RefineryError

    runs = instance.get_runs(filters=RunsFilter(job_name=job.name), limit=1)
    if not runs or runs[0].status != DagsterRunStatus.FAILURE:
        outcome = "did not fail" if runs else "is none"
        raise RefineryError(f"nothing to resume: the latest run of {job.name} {outcome}")
    selected = job.asset_layer.selected_asset_keys
    failed, keys = runs[0], [k for k in job.asset_layer.asset_graph.toposorted_asset_keys if k in selected]
    family = run_family(instance, failed)

    def done(key) -> bool:
        records = instance.fetch_materializations(key, limit=1).records
        return bool(records) and records[0].run_id in family

    todo = [k for k in keys if not done(k)]
    if not todo:
        raise RefineryError(f"nothing to resume: run {failed.run_id} materialized every asset; run again instead")
    checks = [c for c in job.asset_layer.asset_graph.asset_check_keys if c.asset_key in selected]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(checks)

    def checked(check) -> bool:
        record = latest.get(check)
        return (
            record is not None
            and record.run_id in family
            and record.status in COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
        )

    redo = {c for c in checks if c.asset_key in todo or not checked(c)}
    return todo, redo, {PARENT_RUN: failed.run_id, ROOT_RUN: failed.tags.get(ROOT_RUN, failed.run_id)}


def prune_staging(
    recipe: Recipe, in_use: list[str], status: Callable[[str], bool | None], family: set[str] = frozenset()
) -> list[str]:
    """Delete staging folders of this instance's finished runs (`status`: True finished, False not, None unknown to
    the instance), except those holding `in_use` paths (the inputs of the last publish, which a later partial
    re-materialization may load again) and those of the runs in `family` (the failed runs a re-execution resumes,
    whose outputs it loads). Another instance's staging is left alone, unless that instance is gone from this
    host."""
    root = recipe.output_dir / ".staging" / recipe.dataset
    keep = set(family) | {
        Path(p).resolve().relative_to(root.resolve()).parts[0]
        for p in in_use
        if Path(p).resolve().is_relative_to(root.resolve())
    }
    removed = []
    for run_dir in sorted(root.iterdir()) if root.exists() else []:
        if run_dir.name in keep or not run_dir.is_dir():
            continue
        mine, finished = _mine(run_dir), status(run_dir.name)
        if mine is False or (mine is None and finished is not True) or finished is False:
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        removed.append(run_dir.name)
    return removed
