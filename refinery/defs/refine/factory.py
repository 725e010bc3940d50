"""Build the Dagster definitions of one recipe. Asset keys are `<dataset>/<stage>[/<source>]`, grouped by dataset,
so the UI shows which ore produced which version."""

import dagster as dg

from refinery.defs.refine.automation import automation
from refinery.defs.refine.gate import gate_checks
from refinery.defs.refine.graph import Graph
from refinery.defs.refine.io import IO_MANAGER
from refinery.defs.refine.progress import LOGGERS
from refinery.defs.refine.publishing import published_asset
from refinery.defs.refine.resources import EngineResource, TuningResource
from refinery.defs.refine.sources import source_assets
from refinery.defs.refine.stages import stage_assets
from refinery.recipe import Recipe

TUNING = TuningResource.from_env()  # one object each: Definitions.merge accepts a shared resource only by identity
ENGINE = EngineResource.from_env()


def recipe_definitions(recipe: Recipe) -> dg.Definitions:
    graph = Graph(recipe)
    assets = [asset for source in recipe.sources for asset in source_assets(graph, source)]
    assets += [*stage_assets(graph), published_asset(graph)]
    graph_defs = dg.Definitions(
        assets=assets,
        asset_checks=gate_checks(graph),
        resources={"io_manager": IO_MANAGER, "tuning": TUNING, "engine": ENGINE},
        loggers=LOGGERS,
    )
    return dg.Definitions.merge(graph_defs, automation(graph))
