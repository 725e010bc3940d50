"""Per source: the observable `ore_<source>` asset and `ingested_<source>`."""

import dagster as dg
import polars as pl

from refinery.defs.refine.graph import OWNER, Graph, content_version
from refinery.defs.refine.handles import Ingested, Staged
from refinery.defs.refine.metadata import frame_metadata, md_table
from refinery.defs.refine.ore import last_observed, observation, ore_state
from refinery.defs.refine.resources import EngineResource, TuningResource
from refinery.defs.refine.staging import prune_failed, staging_dir
from refinery.errors import IngestError
from refinery.ingest import ingest_source
from refinery.recipe import Source, ore_files, slug


def source_assets(graph: Graph, source: Source) -> list:
    recipe = graph.recipe

    @dg.observable_source_asset(
        key=graph.ore(source.name),
        group_name=graph.group,
        description=f"Ore files `{source.path}` ({source.format}, licence {source.license or 'unknown'})",
    )
    def ore(context) -> dg.ObserveResult:
        fingerprint, metadata = ore_state(recipe, source)
        return dg.ObserveResult(data_version=dg.DataVersion(fingerprint), metadata=metadata)

    @dg.asset(
        key=graph.ingested(source.name),
        pool=graph.pool,
        deps=[graph.ore(source.name)],
        partitions_def=graph.drops,
        group_name=graph.group,
        kinds={"polars", "parquet"},
        owners=[OWNER],
        code_version=graph.code_version("ingest", source.model_dump()),
        description=f"Records of source `{source.name}` parsed to Parquet; unusable ones quarantined.",
    )
    def ingested(
        context: dg.AssetExecutionContext, tuning: TuningResource, engine: EngineResource
    ) -> dg.Output[Ingested]:
        drop = context.partition_key if graph.drops else None
        every = ore_files(recipe, source)  # of every drop: what the ore asset stands for
        observe_ore(context, graph, source, every)
        prune_failed(recipe, context.instance, context.dagster_run)
        out = staging_dir(recipe, context.dagster_run, f"ingested-{source.name}" + (f"-{slug(drop)}" if drop else ""))
        files = ore_files(recipe, source, drop) if drop else every
        runner = engine.engine(tuning.tuning())
        if not files and not drop:  # a drop may hold no file of this source; a source without drops must have some
            raise IngestError(f"source {source.name!r}: no files match {source.path!r}")
        result = ingest_source(source, recipe.base_dir, out, files, runner)
        counted = result.counted  # not by the reader: for accounting
        context.log.info(f"{source.name}: {result.rows} records, {result.quarantined} quarantined, {counted} counted")
        quarantine = pl.read_parquet(result.quarantine)
        value = Ingested(
            records=Staged.of(result.records),
            quarantine=Staged.of(result.quarantine),
            read=counted,
            ore=[{"source": source.name, **entry} for entry in result.ore],  # the bytes read, for the manifest
            engine=runner.evidence(),
        )
        return dg.Output(
            value,
            data_version=content_version(value.records, value.quarantine),
            metadata={
                **frame_metadata(result.records),
                "files": len(result.files),
                "records_counted": counted,
                "quarantined": result.quarantined,
                "quarantine_examples": dg.MetadataValue.md(
                    md_table(quarantine.select("source_id", "reason", "detail").head(5).to_dicts())
                ),
            },
        )

    return [ore, ingested]


def observe_ore(context: dg.AssetExecutionContext, graph: Graph, source: Source, files: list) -> None:
    """Observe the ore about to be read, unless its latest observation saw it so: however the run was launched
    ("Materialize all" leaves the ore out), `ingested` records the ore it read, and is not "Unsynced" after."""
    key = graph.ore(source.name)
    state = ore_state(graph.recipe, source, files)
    if last_observed(context.instance, key) != state[0]:
        context.log_event(observation(key, state))
        context.get_step_execution_context().wipe_input_asset_version_info(key)  # provenance: this observation
