"""The recipe's job, and what runs it without anyone launching it: a schedule (`automation.schedule`), and a sensor
that observes the ore without a run (so the UI marks assets stale when ore changes) and, with
`automation.on_new_ore`, refines every change of it."""

import dagster as dg

from refinery.defs.refine.graph import Graph
from refinery.defs.refine.ore import last_observed, observation, ore_state
from refinery.recipe import drop_paths

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def jobs(graph: Graph) -> tuple:
    """`refine_<ds>` and, with drops, `ingest_<ds>`: one run per drop. A run is either one drop's ingest or the
    refinement of all ingested drops, never both. Ingesting observes the ore it reads (`sources.py`)."""
    recipe, ds, tags = graph.recipe, graph.group, graph.run_tags
    everything = dg.AssetSelection.groups(ds)
    if not graph.drops:
        refine = dg.define_asset_job(f"refine_{ds}", everything, description=f"Refine {recipe.dataset}", tags=tags)
        return refine, None
    ingested = dg.AssetSelection.assets(*(graph.ingested(s.name) for s in recipe.sources))
    refine = dg.define_asset_job(
        f"refine_{ds}", everything - ingested, description=f"Refine {recipe.dataset} from every drop", tags=tags
    )
    ingest = dg.define_asset_job(f"ingest_{ds}", ingested, description="Ingest one drop (a partition)", tags=tags)
    return refine, ingest


def drops_to_run(graph: Graph, instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """(drops present but not yet partitions, drops whose every source is not yet ingested)."""
    name = graph.drops.name
    present = sorted(drop_paths(graph.recipe))
    known = set(instance.get_dynamic_partitions(name))
    keys = [graph.ingested(s.name) for s in graph.recipe.sources]

    def ingested(drop: str) -> bool:
        return all(
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=k, asset_partitions=[drop]), limit=1
            ).records
            for k in keys
        )

    return [d for d in present if d not in known], [d for d in present if not ingested(d)]


def register(graph: Graph, instance: dg.DagsterInstance) -> None:
    """What the instance should know before any run or sensor: the dataset's pool at its limit (Dagster sets a
    pool up when a run first waits on it, too late for runs launched together), and the drops present, so the UI
    lists them as partitions from the start."""
    instance.event_log_storage.initialize_concurrency_limit_to_default(graph.pool)
    if graph.drops:
        new, _ = drops_to_run(graph, instance)
        instance.add_dynamic_partitions(graph.drops.name, new)


def _latest_storage_id(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> int:
    records = [instance.fetch_materializations(k, limit=1).records for k in keys]
    return max((r[0].storage_id for r in records if r), default=0)


def ore_sensor(graph: Graph, job) -> dg.SensorDefinition:
    """Observes the ore every `observe_every` seconds, without a run; with `job`, requests a run for every change,
    deletions and reverts included: the run key counts the changes, so ore that returns to an earlier state (a
    file added, then deleted) is refined again, not skipped as done. With no cursor (a new instance, a renamed
    sensor), ore that is as last observed is not a change: start-up does not refine what was refined."""
    recipe, auto = graph.recipe, graph.recipe.automation

    @dg.sensor(
        name=f"observe_{graph.group}_ore",
        job=job,
        minimum_interval_seconds=auto.observe_every,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Observes the ore (files, bytes, fingerprint) without a run"
        + ("; refines every change of it." if job else "."),
    )
    def observe_ore(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        states = {graph.ore(s.name): ore_state(recipe, s) for s in recipe.sources}
        fingerprint = "".join(fp for fp, _ in states.values())
        changes, _, seen = (context.cursor or "").rpartition(":")
        if not context.cursor and all(last_observed(context.instance, k) == fp for k, (fp, _) in states.items()):
            seen = fingerprint  # as the last observation saw it
        if fingerprint == seen:
            reason = f"ore unchanged since change {changes or 0} (fingerprint {fingerprint[:16]})"
            return dg.SensorResult(skip_reason=reason, cursor=f"{changes or 0}:{fingerprint}")
        change = int(changes or 0) + 1
        observations = [observation(key, state) for key, state in states.items()]
        requests = [dg.RunRequest(run_key=f"change-{change}-{fingerprint}")] if job else []
        return dg.SensorResult(run_requests=requests, asset_events=observations, cursor=f"{change}:{fingerprint}")

    return observe_ore


def automation(graph: Graph) -> dg.Definitions:
    recipe, ds, auto = graph.recipe, graph.group, graph.recipe.automation
    job, ingest = jobs(graph)
    schedules = []
    if auto.schedule:
        running = dg.DefaultScheduleStatus.RUNNING
        schedules.append(
            dg.ScheduleDefinition(
                name=f"refine_{ds}_schedule", cron_schedule=auto.schedule, job=job, default_status=running
            )
        )
    if ingest is None:
        observe = ore_sensor(graph, job if auto.on_new_ore else None)
        return dg.Definitions(jobs=[job], schedules=schedules, sensors=[observe])

    @dg.sensor(
        name=f"refine_{ds}_on_new_drops",
        jobs=[job, ingest],
        minimum_interval_seconds=auto.observe_every,
        default_status=dg.DefaultSensorStatus.RUNNING if auto.on_new_ore else dg.DefaultSensorStatus.STOPPED,
        description="A new drop becomes a partition and is ingested alone; then every drop is refined together.",
    )
    def drops_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        new, pending = drops_to_run(graph, context.instance)
        if new or pending:
            requests = [dg.RunRequest(job_name=ingest.name, partition_key=d, run_key=f"ingest-{d}") for d in pending]
            return dg.SensorResult(
                run_requests=requests, dynamic_partitions_requests=[graph.drops.build_add_request(new)] if new else []
            )
        busy = context.instance.get_runs(filters=dg.RunsFilter(job_name=ingest.name, statuses=UNFINISHED), limit=1)
        ingested = _latest_storage_id(context.instance, [graph.ingested(s.name) for s in recipe.sources])
        if busy or not ingested or ingested <= _latest_storage_id(context.instance, [graph.key("deduplicated")]):
            return dg.SkipReason("no drop ingested since the last refinement")
        return dg.SensorResult(run_requests=[dg.RunRequest(job_name=job.name, run_key=f"refine-{ingested}")])

    sensors = [drops_sensor, ore_sensor(graph, None)]
    return dg.Definitions(jobs=[job, ingest], schedules=schedules, sensors=sensors)
