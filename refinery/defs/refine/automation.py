"""The recipe's job, and what runs it without anyone launching it: a schedule (`automation.schedule`), a sensor
on new or changed ore (`automation.on_new_ore`), and a schedule that observes the ore between runs, so that the
UI marks assets stale when ore changes (`automation.observe`)."""

import dagster as dg

from refinery.defs.refine.graph import Graph
from refinery.defs.refine.staging import ore_fingerprint

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def jobs(graph: Graph) -> tuple:
    """`refine_<ds>` (the ore is observed first, every run) and, with drops, `ingest_<ds>`: one run per drop.
    A run is either one drop's ingest or the refinement of all ingested drops, never both."""
    recipe, ds = graph.recipe, graph.group
    everything = dg.AssetSelection.groups(ds, include_sources=True)
    if not graph.drops:
        return dg.define_asset_job(f"refine_{ds}", selection=everything, description=f"Refine {recipe.dataset}"), None
    ingested = dg.AssetSelection.assets(*(graph.key("ingested", s.name) for s in recipe.sources))
    refine = dg.define_asset_job(
        f"refine_{ds}", selection=everything - ingested, description=f"Refine {recipe.dataset} from every drop"
    )
    ingest = dg.define_asset_job(f"ingest_{ds}", selection=ingested, description="Ingest one drop (a partition)")
    return refine, ingest


def drops_to_run(graph: Graph, instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """(drops present but not yet partitions, drops whose every source is not yet ingested)."""
    name = graph.drops.name
    present = sorted(graph.recipe.drop_paths())
    known = set(instance.get_dynamic_partitions(name))
    keys = [graph.key("ingested", s.name) for s in graph.recipe.sources]

    def ingested(drop: str) -> bool:
        return all(
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=k, asset_partitions=[drop]), limit=1
            ).records
            for k in keys
        )

    return [d for d in present if d not in known], [d for d in present if not ingested(d)]


def _latest_storage_id(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> int:
    records = [instance.fetch_materializations(k, limit=1).records for k in keys]
    return max((r[0].storage_id for r in records if r), default=0)


def automation(graph: Graph) -> dg.Definitions:
    recipe, ds, auto = graph.recipe, graph.group, graph.recipe.automation
    job, ingest = jobs(graph)
    ore = [graph.key("ore", s.name) for s in recipe.sources]
    observe = dg.define_asset_job(
        f"observe_{ds}_ore", selection=dg.AssetSelection.assets(*ore), description="Observe the ore's data versions"
    )
    crons = {f"refine_{ds}_schedule": (job, auto.schedule), f"observe_{ds}_ore": (observe, auto.observe)}
    schedules = [
        dg.ScheduleDefinition(
            name=name, job=target, cron_schedule=cron, default_status=dg.DefaultScheduleStatus.RUNNING
        )
        for name, (target, cron) in crons.items()
        if cron is not None
    ]

    @dg.sensor(
        name=f"refine_{ds}_on_new_ore",
        job=job,
        minimum_interval_seconds=auto.observe_every,
        default_status=dg.DefaultSensorStatus.RUNNING if auto.on_new_ore else dg.DefaultSensorStatus.STOPPED,
        description="Refine again when any ore file of the recipe is added or changed.",
    )
    def ore_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        """A run for every change of the ore, deletions and reverts included: the run key counts the changes, so
        ore that returns to an earlier state (a file added, then deleted) is refined again, not skipped as done."""
        fingerprint = "".join(ore_fingerprint(recipe, s) for s in recipe.sources)
        changes, _, seen = (context.cursor or "").rpartition(":")
        if fingerprint == seen:
            return dg.SkipReason(f"ore unchanged since change {changes or 0} (fingerprint {fingerprint[:16]})")
        change = int(changes or 0) + 1
        request = dg.RunRequest(run_key=f"change-{change}-{fingerprint}")
        return dg.SensorResult(run_requests=[request], cursor=f"{change}:{fingerprint}")

    if ingest is None:
        return dg.Definitions(jobs=[job, observe], schedules=schedules, sensors=[ore_sensor])

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
        ingested = _latest_storage_id(context.instance, [graph.key("ingested", s.name) for s in recipe.sources])
        if busy or not ingested or ingested <= _latest_storage_id(context.instance, [graph.key("deduplicated")]):
            return dg.SkipReason("no drop ingested since the last refinement")
        return dg.SensorResult(run_requests=[dg.RunRequest(job_name=job.name, run_key=f"refine-{ingested}")])

    return dg.Definitions(jobs=[job, ingest, observe], schedules=schedules, sensors=[drops_sensor])
