"""The persistent local Dagster instance: `$DAGSTER_HOME`, by default `.dagster_home/` in the project, configured
by the project's `dagster.yaml` (copied in only when the instance has none: a Postgres setting stays)."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCATION = "refinery"  # the code location's name, as workspace.yaml and pyproject.toml give it


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config, target = PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml"
    if config.exists() and not target.exists():  # the instance's configuration is the user's once it exists
        shutil.copyfile(config, target)
    return home


def get_instance():
    """The instance, its storage created under a file lock: two first runs at once would both create the SQLite
    tables and one would fail."""
    from dagster import AssetKey, DagsterInstance

    home = dagster_home()
    with open(home / ".refinery-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = DagsterInstance.get()
        instance.get_runs(limit=1)
        instance.get_latest_materialization_event(AssetKey("refinery_init"))
        instance.all_instigator_state()
        fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


def run_tags() -> dict[str, str]:
    """Tags of a `refinery run`: the code location's repository, so the run shows in its job's history and the
    timeline like a run launched from the UI; host and pid, so a later run can tell whether it is still alive."""
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    return {
        REPOSITORY_LABEL_TAG: f"__repository__@{LOCATION}",
        "refinery/host": socket.gethostname(),
        "refinery/pid": str(os.getpid()),
    }


def fail_dead_runs(instance) -> list[str]:
    """Mark runs of this host whose process died mid-flight (killed, out of memory) as failed, so that their
    staging is cleaned up like any finished run's. Returns their ids."""
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING]
    runs = instance.get_runs(filters=RunsFilter(statuses=statuses, tags={"refinery/host": socket.gethostname()}))
    dead = [r for r in runs if not _alive(int(r.tags.get("refinery/pid", "0")))]
    for run in dead:
        instance.report_run_failed(run, message=f"process {run.tags['refinery/pid']} died before the run finished")
    return [r.run_id for r in dead]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0
