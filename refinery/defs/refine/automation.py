"""The recipe's job, its schedule (when the recipe has one) and the sensor that refines again on new ore."""

import dagster as dg

from refinery.defs.refine.graph import Graph
from refinery.defs.refine.staging import ore_fingerprint


def automation(graph: Graph) -> dg.Definitions:
    recipe, ds = graph.recipe, graph.group
    job = dg.define_asset_job(
        f"refine_{ds}", selection=dg.AssetSelection.groups(ds), description=f"Refine {recipe.dataset} end to end"
    )
    schedules = (
        [
            dg.ScheduleDefinition(
                name=f"refine_{ds}_schedule",
                job=job,
                cron_schedule=recipe.schedule,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ]
        if recipe.schedule
        else []
    )

    @dg.sensor(
        name=f"refine_{ds}_on_new_ore",
        job=job,
        minimum_interval_seconds=60,
        description="Refine again when any ore file of the recipe is added or changed.",
    )
    def ore_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        fingerprint = "".join(ore_fingerprint(recipe, s) for s in recipe.sources)
        if fingerprint == context.cursor:
            return dg.SkipReason("ore unchanged")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=fingerprint)], cursor=fingerprint)

    return dg.Definitions(jobs=[job], schedules=schedules, sensors=[ore_sensor])
