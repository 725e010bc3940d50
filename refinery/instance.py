"""The persistent local Dagster instance: `$DAGSTER_HOME`, by default `.dagster_home/` in the project, configured
by the project's `dagster.yaml` (copied in only when the instance has none: a Postgres setting stays)."""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import socket
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCATION = "refinery"  # the code location's name, as workspace.yaml and pyproject.toml give it


def recipe_paths() -> list[Path]:
    """The recipes the code location serves: `REFINERY_RECIPES` (a glob), by default `data/recipes/*.yaml`."""
    pattern = os.environ.get("REFINERY_RECIPES", str(PROJECT_ROOT / "data" / "recipes" / "*.yaml"))
    return sorted(Path(p) for p in glob.glob(pattern))


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config, target = PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml"
    if config.exists() and not target.exists():  # the instance's configuration is the user's once it exists
        shutil.copyfile(config, target)
    return home


def config_drift() -> str | None:
    """A warning when the instance's `dagster.yaml` says something other than the project's: the instance's is
    in effect (an edit of the project's file is not), which should be a choice, not a surprise."""
    import yaml

    config, target = PROJECT_ROOT / "dagster.yaml", dagster_home() / "dagster.yaml"
    if not config.exists() or yaml.safe_load(config.read_text()) == yaml.safe_load(target.read_text()):
        return None
    return (
        f"the instance's settings ({target}) differ from the project's ({config}); the instance's are in effect "
        f"(copy the project's over them to apply its changes: `cp {config} {target}`)"
    )


def get_instance():
    """The instance, its storage created under a file lock: two first runs at once would both create the SQLite
    tables and one would fail. A setting the instance cannot use (an unset variable) is a one-line RefineryError."""
    from dagster import AssetKey, DagsterInstance
    from dagster._core.errors import DagsterInvalidConfigError

    from refinery.errors import RefineryError

    home = dagster_home()
    with open(home / ".refinery-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = DagsterInstance.get()
        except DagsterInvalidConfigError as err:
            reasons = [(getattr(e.error_data, "message", None) or e.message).strip() for e in err.errors]
            reasons = [re.sub(r"^[\w.]+Error: ", "", r.splitlines()[0]) for r in reasons]  # no Python class names
            raise RefineryError(f"{home / 'dagster.yaml'}: {' '.join(reasons)}") from None
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
