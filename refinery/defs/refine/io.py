"""A run-scoped IO manager: what an asset hands downstream belongs to the run that made it.

Dagster's default IO manager keeps one pickle per asset key, shared by every run, so two runs at once can load
each other's outputs. Here each output is a typed handle (`handles.py`) naming the run's staged files with their
checksums, checked when loaded, stored as JSON under
`<instance storage>/handles/<run id>/`. A step loads its upstream's handle from its own run when that run made
it, else from the run of the upstream's latest materialization (an asset materialized alone), never from a run
that merely wrote last.
"""

import hashlib
import json
import os
from pathlib import Path

import dagster as dg

from refinery.defs.refine.handles import Handle, from_json, to_json


class RunScopedIOManager(dg.ConfigurableIOManager):
    """Partitioned upstreams (drops) load as {partition key: handle}, each from the run that materialized it."""

    def _path(self, instance: dg.DagsterInstance, run_id: str, key: dg.AssetKey, partition: str | None) -> Path:
        name = "__".join(key.path) + (f"@{hashlib.sha256(partition.encode()).hexdigest()[:16]}" if partition else "")
        return Path(instance.storage_directory()) / "handles" / run_id / f"{name}.json"

    def handle_output(self, context: dg.OutputContext, obj: Handle | None) -> None:
        if obj is None:
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(context.step_context.instance, context.run_id, context.asset_key, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(to_json(obj)))
        os.replace(tmp, path)

    def load_input(self, context: dg.InputContext) -> Handle | dict[str, Handle]:
        if context.has_asset_partitions:
            return {p: self._load(context, p) for p in context.asset_partition_keys}
        return self._load(context, None)

    def _load(self, context: dg.InputContext, partition: str | None) -> Handle:
        instance, key = context.instance, context.asset_key
        path = self._path(instance, context.upstream_output.run_id, key, partition)
        if not path.exists():
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
            ).records
            what = key.to_user_string() + (f" [{partition}]" if partition else "")
            if not records:
                raise dg.Failure(f"{what} has never been materialized: run the whole job")
            path = self._path(instance, records[0].run_id, key, partition)
            if not path.exists():
                raise dg.Failure(f"the output of {what} from run {records[0].run_id} is gone")
        return from_json(json.loads(path.read_text()))


IO_MANAGER = RunScopedIOManager()  # one object: Definitions.merge accepts a shared resource only by identity
