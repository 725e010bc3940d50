"""The recipe's job, and what runs it without anyone launching it: a schedule (`automation.schedule`), a sensor
on new or changed ore (`automation.on_new_ore`), and a schedule that observes the ore between runs, so that the
UI marks assets stale when ore changes (`automation.observe`)."""

import dagster as dg

from refinery.defs.refine.graph import Graph
from refinery.defs.refine.staging import ore_fingerprint


def automation(graph: Graph) -> dg.Definitions:
    recipe, ds, auto = graph.recipe, graph.group, graph.recipe.automation
    job = dg.define_asset_job(
        f"refine_{ds}",
        selection=dg.AssetSelection.groups(ds, include_sources=True),  # the ore is observed first, every run
        description=f"Refine {recipe.dataset} end to end",
    )
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
        fingerprint = "".join(ore_fingerprint(recipe, s) for s in recipe.sources)
        if fingerprint == context.cursor:
            return dg.SkipReason("ore unchanged")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=fingerprint)], cursor=fingerprint)

    return dg.Definitions(jobs=[job, observe], schedules=schedules, sensors=[ore_sensor])
