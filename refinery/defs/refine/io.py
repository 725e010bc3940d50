"""A run-scoped IO manager: what an asset hands downstream belongs to the run that made it.

Dagster's default IO manager keeps one pickle per asset key, shared by every run, so two runs at once can load
each other's outputs. Here each output is a small JSON handle naming the run's staged files, stored under
`<instance storage>/handles/<run id>/`. A step loads its upstream's handle from its own run when that run made
it, else from the run of the upstream's latest materialization (an asset materialized alone), never from a run
that merely wrote last.
"""

import json
import os
from pathlib import Path

import dagster as dg


class RunScopedIOManager(dg.ConfigurableIOManager):
    def _path(self, instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey) -> Path:
        return Path(instance.storage_directory()) / "handles" / run_id / ("__".join(key.path) + ".json")

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        path = self._path(context.step_context.instance, context.run_id, context.asset_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(obj))
        os.replace(tmp, path)

    def load_input(self, context: dg.InputContext) -> object:
        instance, key = context.instance, context.asset_key
        path = self._path(instance, context.upstream_output.run_id, key)
        if not path.exists():
            event = instance.get_latest_materialization_event(key)
            if event is None:
                raise dg.Failure(f"{key.to_user_string()} has never been materialized: run the whole job")
            path = self._path(instance, event.run_id, key)
            if not path.exists():
                raise dg.Failure(f"the output of {key.to_user_string()} from run {event.run_id} is gone")
        return json.loads(path.read_text())


IO_MANAGER = RunScopedIOManager()  # one object: Definitions.merge accepts a shared resource only by identity
