"""Build the Dagster definitions of one recipe. Asset keys are `<dataset>/<stage>[/<source>]`, grouped by dataset,
so the UI shows which ore produced which version."""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from refinery import __version__
from refinery.catalog import Catalog
from refinery.clean import clean
from refinery.dedup import Reference, deduplicate
from refinery.defs.refine.metadata import clean_metadata, dedup_metadata, frame_metadata, md_table
from refinery.defs.refine.staging import ore_entries, ore_fingerprint, prune_staging, staging_dir
from refinery.errors import NotFoundError
from refinery.ingest import ingest_source
from refinery.publish import PublishInput, publish
from refinery.recipe import Recipe, Source, slug
from refinery.validate import validate
from refinery.validate.suite import ValidationReport

OWNER = "team:data-platform"


def _code_version(*parts: object) -> str:
    payload = json.dumps([__version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


SIGNATURE_PARAMS = ("num_perm", "seed", "ngram")


def _previous(recipe: Recipe) -> Reference | None:
    """LATEST as the reference for incremental dedup; its stored signatures only if made with the same
    permutations and shingles (otherwise they are recomputed from its text)."""
    if not recipe.dedup.against_previous:
        return None
    try:
        v = Catalog(recipe.output_dir).version(recipe.dataset)
    except NotFoundError:
        return None
    then = v.manifest["recipe"]["dedup"]["near"]
    same = all(then.get(k) == getattr(recipe.dedup.near, k) for k in SIGNATURE_PARAMS)
    return Reference(v.files, v.signatures() if same else None)


def _source_assets(recipe: Recipe, source: Source, key: Callable[..., dg.AssetKey]) -> list:
    """The external `ore/<source>` asset (data version = file fingerprint) and `ingested/<source>`."""

    @dg.observable_source_asset(
        key=key("ore", source.name),
        group_name=key().path[0],
        description=f"Ore files `{source.path}` ({source.format}, licence {source.license or 'unknown'})",
    )
    def ore(context) -> dg.DataVersion:
        return dg.DataVersion(ore_fingerprint(recipe, source))

    @dg.asset(
        key=key("ingested", source.name),
        deps=[key("ore", source.name)],
        group_name=key().path[0],
        kinds={"polars", "parquet"},
        owners=[OWNER],
        code_version=_code_version("ingest", source.model_dump()),
        description=f"Records of source `{source.name}` parsed to Parquet; unparseable ones quarantined.",
    )
    def ingested(context: dg.AssetExecutionContext) -> dg.Output[dict]:
        out = staging_dir(recipe, context.run_id, f"ingested-{source.name}")
        result = ingest_source(source, recipe.base_dir, out)
        context.log.info(f"{source.name}: {result.rows} records, {result.quarantined} quarantined")
        quarantine = pl.read_parquet(result.quarantine)
        value = {
            "records": str(result.records),
            "quarantine": str(result.quarantine),
            "read": result.rows + result.quarantined,
        }
        return dg.Output(
            value,
            metadata={
                **frame_metadata(result.records),
                "files": len(result.files),
                "quarantined": result.quarantined,
                "quarantine_examples": dg.MetadataValue.md(
                    md_table(quarantine.select("source_id", "reason", "detail").head(5).to_dicts())
                ),
            },
        )

    return [ore, ingested]


def _run_finished(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is None or run.is_finished


def recipe_definitions(recipe: Recipe) -> dg.Definitions:
    ds = slug(recipe.dataset)
    group = ds

    def key(*parts: str) -> dg.AssetKey:
        return dg.AssetKey([ds, *parts])

    source_assets = [asset for source in recipe.sources for asset in _source_assets(recipe, source, key)]

    @dg.asset(
        key=key("deduplicated"),
        ins={f"ingested_{slug(s.name)}": dg.AssetIn(key("ingested", s.name)) for s in recipe.sources},
        group_name=group,
        kinds={"polars", "duckdb", "numpy"},
        owners=[OWNER],
        code_version=_code_version("dedup", recipe.dedup.model_dump()),
        description="Exact and MinHash near-duplicates removed across all sources and against the previous version.",
    )
    def deduplicated(context: dg.AssetExecutionContext, **ingested: dict) -> dg.Output[dict]:
        inputs = [Path(ingested[f"ingested_{slug(s.name)}"]["records"]) for s in recipe.sources]
        quarantines = [ingested[f"ingested_{slug(s.name)}"]["quarantine"] for s in recipe.sources]
        result = deduplicate(
            inputs, staging_dir(recipe, context.run_id, "deduplicated"), recipe.dedup, _previous(recipe)
        )
        context.log.info(f"dedup: {result.rows_in} in, {result.rows_kept} kept, {result.removed_by_reason}")
        value = {
            "records": str(result.kept),
            "removed": [*quarantines, str(result.removed)],
            "signatures": str(result.signatures),
            "params": result.params,
            "read": sum(ingested[f"ingested_{slug(s.name)}"]["read"] for s in recipe.sources),
        }
        return dg.Output(value, metadata={**frame_metadata(result.kept), **dedup_metadata(result)})

    @dg.asset(
        key=key("cleaned"),
        ins={"deduplicated": dg.AssetIn(key("deduplicated"))},
        group_name=group,
        kinds={"polars", "parquet"},
        owners=[OWNER],
        code_version=_code_version("clean", recipe.clean.model_dump()),
        description="Text repaired and normalized, PII redacted, language identified, quality filters applied.",
    )
    def cleaned(context: dg.AssetExecutionContext, deduplicated: dict) -> dg.Output[dict]:
        result = clean(Path(deduplicated["records"]), staging_dir(recipe, context.run_id, "cleaned"), recipe.clean)
        context.log.info(f"clean: {result.rows_in} in, {result.rows_kept} kept, {result.rejected_by_filter}")
        langs = dict(
            pl.read_parquet(result.cleaned, columns=["lang"]).get_column("lang").value_counts(sort=True).rows()
        )
        value = {
            **deduplicated,
            "records": str(result.cleaned),
            "removed": [*deduplicated["removed"], str(result.removed)],
            "stages": {
                "dedup": deduplicated["params"],
                "clean": {"rejected": result.rejected_by_filter, "pii": result.pii_counts, "languages": langs},
            },
        }
        return dg.Output(value, metadata={**frame_metadata(result.cleaned), **clean_metadata(result)})

    @dg.asset_check(
        asset=key("cleaned"),
        name="gx_suite",
        blocking=True,
        description="GX Core suite over refined records: schema, ids, lengths, PII, languages, recipe's own.",
    )
    def gx_suite(context: dg.AssetCheckExecutionContext, cleaned: dict) -> dg.AssetCheckResult:
        report = validate([Path(cleaned["records"])], recipe, Path(cleaned["records"]).parent / "validation")
        failed = [
            {
                "expectation": o.expectation,
                "column": o.column,
                "severity": o.severity,
                "unexpected": o.unexpected_count,
                "examples": str(o.examples)[:120],
            }
            for o in report.failed_errors + report.warnings
        ]
        return dg.AssetCheckResult(
            passed=report.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={**report.summary(), "failures": dg.MetadataValue.md(md_table(failed))},
        )

    @dg.asset_check(
        asset=key("cleaned"),
        name="accounting",
        blocking=True,
        description="Refined + removed = records read, exactly once; no doc_id in both.",
    )
    def accounting(context: dg.AssetCheckExecutionContext, cleaned: dict) -> dg.AssetCheckResult:
        refined = pl.scan_parquet(cleaned["records"]).select("doc_id")
        removed = pl.scan_parquet(cleaned["removed"]).select("doc_id")
        n_refined, n_removed = refined.select(pl.len()).collect().item(), removed.select(pl.len()).collect().item()
        read = cleaned["read"]
        both = refined.join(removed, on="doc_id").select(pl.len()).collect().item()
        passed = n_refined + n_removed == read and both == 0
        return dg.AssetCheckResult(
            passed=passed, metadata={"read": read, "refined": n_refined, "removed": n_removed, "in_both": both}
        )

    @dg.asset(
        key=key("published"),
        ins={"cleaned": dg.AssetIn(key("cleaned"))},
        group_name=group,
        kinds={"parquet"},
        owners=[OWNER],
        code_version=_code_version("publish", recipe.publish.model_dump(), recipe.validate_.model_dump()),
        description=f"Immutable versions of `{recipe.dataset}` under {recipe.output_dir}.",
    )
    def published(context: dg.AssetExecutionContext, cleaned: dict) -> dg.MaterializeResult:
        validation_dir = Path(cleaned["records"]).parent / "validation"
        report = ValidationReport.from_json((validation_dir / "summary.json").read_text())
        outcome = publish(
            PublishInput(
                recipe=recipe,
                cleaned=Path(cleaned["records"]),
                removed=[Path(p) for p in cleaned["removed"]],
                signatures=Path(cleaned["signatures"]),
                validation=report,
                validation_dir=validation_dir,
                ore=ore_entries(recipe),
                stages=cleaned["stages"],
                run_id=context.run_id,
            )
        )
        if outcome.created:
            pruned = Catalog(recipe.output_dir).prune(recipe.dataset, recipe.publish.keep)
            context.log.info(f"published {outcome.version}; pruned versions {pruned}")
        else:
            context.log.info(f"content unchanged: {outcome.version} stays LATEST, no new version")
        in_use = [cleaned["records"], cleaned["signatures"], *cleaned["removed"]]
        prune_staging(recipe, in_use, lambda run_id: _run_finished(context.instance, run_id))
        m = outcome.manifest
        return dg.MaterializeResult(
            data_version=dg.DataVersion(m["content_hash"]),
            metadata={
                "version": m["version"],
                "path": dg.MetadataValue.path(str(outcome.path)),
                "new_version": outcome.created,
                "readiness": m["readiness"]["level"],
                "datacard": dg.MetadataValue.md((outcome.path / "DATACARD.md").read_text()),
                "counts": dg.MetadataValue.json(m["counts"]),
                **frame_metadata(
                    outcome.path / m["files"][0]["path"], rows=m["counts"]["refined"], lineage_from=key("cleaned")
                ),
            },
        )

    job = dg.define_asset_job(
        f"refine_{ds}", selection=dg.AssetSelection.groups(group), description=f"Refine {recipe.dataset} end to end"
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

    return dg.Definitions(
        assets=[*source_assets, deduplicated, cleaned, published],
        asset_checks=[gx_suite, accounting],
        jobs=[job],
        schedules=schedules,
        sensors=[ore_sensor],
    )
