"""`published`: a version from the staged files the blocking checks passed, then retention and staging cleanup."""

import dagster as dg

from refinery.catalog import Catalog
from refinery.defs.refine.graph import OWNER, Graph
from refinery.defs.refine.handles import Cleaned
from refinery.defs.refine.metadata import frame_metadata, lineage_metadata
from refinery.defs.refine.resources import EngineResource, TuningResource
from refinery.defs.refine.staging import prune_staging, run_status
from refinery.publish import PublishInput, publish
from refinery.validate.suite import ValidationReport


def published_asset(graph: Graph) -> dg.AssetsDefinition:
    recipe, key = graph.recipe, graph.key

    @dg.asset(
        key=key("published"),
        pool=graph.pool,
        ins={"cleaned": dg.AssetIn(key("cleaned"))},
        # a version is made from this ore (its manifest lists the files): new ore makes it Unsynced in the UI, as
        # Dagster marks an asset stale from its own dependencies' versions only, not from a stale parent's
        deps=[graph.ore(source.name) for source in recipe.sources],
        group_name=graph.group,
        kinds={"parquet"},
        owners=[OWNER],
        code_version=graph.code_version("publish", recipe.publish.model_dump(), recipe.validate_.model_dump()),
        description=f"Immutable versions of `{recipe.dataset}` under {recipe.output_root}.",
    )
    def published(
        context: dg.AssetExecutionContext, tuning: TuningResource, engine: EngineResource, cleaned: Cleaned
    ) -> dg.MaterializeResult:
        staged = cleaned.staged
        outcome = publish(
            PublishInput(
                recipe=recipe,
                cleaned=staged[0],
                removed=staged[1:-1],
                signatures=staged[-1],
                validation=ValidationReport.from_json((cleaned.validation_dir / "summary.json").read_text()),
                validation_dir=cleaned.validation_dir,
                gate_dir=cleaned.gate_dir,
                ore=cleaned.ore,
                stages={**cleaned.stages, "engine": cleaned.engine},
                run_id=context.run_id,
                built_on=cleaned.built_on,
                ore_records=cleaned.ore_records,
            ),
            engine.engine(tuning.tuning()),
        )
        if outcome.created:
            pruned = Catalog(recipe.output_dir).prune(recipe.dataset, recipe.publish.keep)
            if recipe.remote_output:  # the same retention in the object store
                Catalog(recipe.output_root).prune(recipe.dataset, recipe.publish.keep)
            context.log.info(f"published {outcome.version}; pruned versions {pruned}")
        else:
            context.log.info(f"data, recipe and code unchanged: {outcome.version} stays LATEST, no new version")
        in_use = [str(p) for p in [*staged, *cleaned.ingested]]
        prune_staging(recipe, in_use, run_status(context.instance))
        m = outcome.manifest
        return dg.MaterializeResult(
            data_version=dg.DataVersion(m["version_hash"]),
            metadata={
                "version": m["version"],
                "path": dg.MetadataValue.path(str(outcome.path)),
                **({"uri": f"{recipe.output_root}/{recipe.dataset}/{m['version']}"} if recipe.remote_output else {}),
                "new_version": outcome.created,
                "data_unchanged": m["data_unchanged"] or not outcome.created,  # no new version: LATEST's data
                "readiness": m["readiness"]["level"],
                "datacard": dg.MetadataValue.md((outcome.path / "DATACARD.md").read_text()),
                "counts": dg.MetadataValue.json(m["counts"]),
                **({"ablation": dg.MetadataValue.json(_ablation(m["ablation"]))} if m.get("ablation") else {}),
                **frame_metadata(
                    outcome.path / m["files"][0]["path"], rows=m["counts"]["refined"], lineage_from=key("cleaned")
                ),
                **lineage_metadata(Catalog(recipe.output_dir).version(recipe.dataset, m["version"]), recipe.output_dir),
            },
        )

    return published


def _ablation(ablation: dict) -> dict:
    """`publish.ablation` at a glance: each side's perplexity and interval, the winner, whether apart."""
    sides = {
        name: {"perplexity": round(s["mean"], 2), "interval": [round(x, 2) for x in s["interval"]]}
        for name, s in ablation["sides"].items()
    }
    return {
        "sides": sides,
        "best": ablation["best"],
        "apart": ablation["separated"],
        "tokens": ablation["budget_tokens"],
    }
