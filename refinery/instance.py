"""The persistent local Dagster instance: `$DAGSTER_HOME`, by default `.dagster_home/` in the project, configured
by the project's `dagster.yaml` (copied in when it is missing or has changed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config, target = PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml"
    if config.exists() and (not target.exists() or target.read_bytes() != config.read_bytes()):
        shutil.copyfile(config, target)
    return home


def get_instance():
    from dagster import DagsterInstance

    dagster_home()
    return DagsterInstance.get()
