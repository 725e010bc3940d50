"""`deduplicated` (across all sources, against the previous version) and `cleaned`. Each stage's module is
imported when its step runs: loading the definitions (every command, the UI) does not pay for Numba and SciPy."""

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl
import pyarrow.parquet as pq

from refinery.catalog import Catalog
from refinery.defs.refine.graph import OWNER, Graph, content_version
from refinery.defs.refine.handles import Cleaned, Deduplicated, Ingested, Staged
from refinery.defs.refine.metadata import clean_metadata, dedup_metadata, frame_metadata
from refinery.defs.refine.resources import EngineResource, TuningResource
from refinery.defs.refine.staging import prune_failed, staging_dir
from refinery.errors import NotFoundError
from refinery.recipe import Recipe, evaluation_sets, quality_files, slug
from refinery.runtime.engine import combined
from refinery.store.remote import latest_root

if TYPE_CHECKING:
    from refinery.dedup import Reference

SIGNATURE_PARAMS = ("num_perm", "seed", "ngram")


def previous_version(recipe: Recipe) -> "Reference | None":
    """LATEST, for incremental dedup and append mode; its stored signatures only if made with the same
    permutations and shingles and keyed by text hash (otherwise they are recomputed from the text)."""
    if not recipe.builds_on_previous:
        return None
    try:
        v = Catalog(latest_root(recipe)).version(recipe.dataset)
    except NotFoundError:
        return None
    from refinery.dedup import Reference

    then = v.manifest["recipe"]["dedup"]["near"]
    same = all(then.get(k) == getattr(recipe.dedup.near, k) for k in SIGNATURE_PARAMS)
    usable = same and "text_hash" in pq.read_schema(v.signatures()).names
    return Reference(v.files, v.signatures() if usable else None, v.id, v.removed_files, v.manifest["ore"])


def _by_drop(loaded: Ingested | dict[str, Ingested], recipe: Recipe) -> list[Ingested]:
    """An ingested source's handles: one, or one per drop (partition) in the order of the drops' keys."""
    return [loaded[k] for k in sorted(loaded)] if isinstance(loaded, dict) else [loaded]


def stage_assets(graph: Graph) -> list:
    recipe, key = graph.recipe, graph.key
    names = {s.name: f"ingested_{slug(s.name)}" for s in recipe.sources}

    @dg.asset(
        key=key("deduplicated"),
        pool=graph.pool,
        ins={arg: dg.AssetIn(graph.ingested(name)) for name, arg in names.items()},
        group_name=graph.group,
        kinds={"polars", "duckdb", "numpy"},
        owners=[OWNER],
        code_version=graph.code_version("dedup", recipe.dedup.model_dump(), recipe.publish.mode),
        description="Exact and MinHash near-duplicates removed across all sources and against the previous version.",
    )
    def deduplicated(
        context: dg.AssetExecutionContext, tuning: TuningResource, engine: EngineResource, **ingested: Ingested
    ) -> dg.Output[Deduplicated]:
        from refinery.dedup import carry_forward, deduplicate
        from refinery.identity import identify

        prune_failed(recipe, context.instance, context.dagster_run)
        handles = [h for arg in names.values() for h in _by_drop(ingested[arg], recipe)]
        ingested_files = [h.records.path for h in handles]
        ore = [entry for h in handles for entry in h.ore]
        read = sum(h.read for h in handles)
        reference = previous_version(recipe)
        built_on = reference and reference.version  # publishing checks that LATEST is still this version
        carried_refined: list[Path] = []  # append mode: the previous version's records, refined and removed
        carried_removed: list[Path] = []
        if recipe.publish.mode == "append" and reference:
            refined, removed = carry_forward(reference, ore, staging_dir(recipe, context.dagster_run, "carried"))
            carried_refined, carried_removed = [refined], [removed]
        carried = carried_refined + carried_removed
        carried_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in carried)
        # carried documents come first (they are older), and every id they hold is taken
        runner = engine.engine(tuning.tuning())
        identified = identify(ingested_files, staging_dir(recipe, context.dagster_run, "identified"), carried, runner)
        inputs = carried_refined + identified
        if not recipe.dedup.against_previous:
            reference = None
        out = staging_dir(recipe, context.dagster_run, "deduplicated")
        dedup = partial(deduplicate, inputs, out, recipe.dedup, reference, tuning.tuning())
        result = runner.isolated(dedup, small=read + carried_rows < runner.sizes.isolated_rows)
        context.log.info(f"dedup: {result.rows_in} in ({carried_rows} carried forward), {result.rows_kept} kept")
        removed = Staged.of(result.removed)
        value = Deduplicated(
            records=Staged.of(result.kept),
            removed=[*(h.quarantine for h in handles), *map(Staged.of, carried_removed), removed],
            signatures=Staged.of(result.signatures),
            # kept by staging cleanup (drops may be gone from the ore): as ingested, and as identified
            ingested=list(dict.fromkeys([*ingested_files, *inputs])),
            ore_records=ingested_files,
            read=read + carried_rows,
            ore=ore,
            built_on=built_on,
            stages={"dedup": {**result.params, "carried_forward": carried_rows}},
            engine={"ingest": combined([h.engine for h in handles]), "dedup": runner.evidence()},
        )
        return dg.Output(
            value,
            data_version=content_version(value.records, removed, value.signatures),
            metadata={**frame_metadata(result.kept), **dedup_metadata(result)},
        )

    @dg.asset(
        key=key("cleaned"),
        pool=graph.pool,
        ins={"deduplicated": dg.AssetIn(key("deduplicated"))},
        group_name=graph.group,
        kinds={"polars", "parquet"},
        owners=[OWNER],
        code_version=graph.code_version("clean", {**recipe.clean.model_dump(), **_whole_input_passes(recipe)}),
        description="Text repaired and normalized, PII redacted, language identified, quality filters applied.",
    )
    def cleaned(
        context: dg.AssetExecutionContext, tuning: TuningResource, engine: EngineResource, deduplicated: Deduplicated
    ) -> dg.Output[Cleaned]:
        from refinery.clean import clean

        out = staging_dir(recipe, context.dagster_run, "cleaned")
        runner = engine.engine(tuning.tuning())
        result = clean(
            deduplicated.records.path, out, recipe.clean, runner, evaluation_sets(recipe), quality_files(recipe)
        )
        context.log.info(f"clean: {result.rows_in} in, {result.rows_kept} kept, {result.rejected_by_filter}")
        languages = pl.scan_parquet(result.cleaned).group_by("lang").len().sort("len", "lang", descending=[True, False])
        langs = dict(languages.collect(engine="streaming").rows())
        stats = {
            "rejected": result.rejected_by_filter,
            "pii": result.pii_counts,
            "lines_stripped": result.lines_stripped,
            "contaminated": result.contaminated,
            "languages": langs,
            **({"quality": result.quality} if result.quality else {}),
        }
        records, removed = Staged.of(result.cleaned), Staged.of(result.removed)
        value = Cleaned(**deduplicated.then(records, removed, "clean", stats, runner.evidence()))
        return dg.Output(
            value,
            data_version=content_version(records, removed),
            metadata={**frame_metadata(result.cleaned), **clean_metadata(result, deduplicated.records.path)},
        )

    return [deduplicated, cleaned]


def _whole_input_passes(recipe: Recipe) -> dict:
    """The recipe's top-level sections the clean step also reads, when set (their absence changes nothing)."""
    sections = {"decontaminate": recipe.decontaminate, "quality": recipe.quality}
    return {name: section.model_dump() for name, section in sections.items() if section is not None}
