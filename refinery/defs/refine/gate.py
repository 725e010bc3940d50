"""The blocking checks on `cleaned`. Each records its verdict beside the staged files, bound to their checksums,
so that publishing can refuse however it is reached (see `refinery.publish.gate`)."""

import dagster as dg

from refinery.defs.refine.graph import Graph
from refinery.defs.refine.handles import Cleaned
from refinery.defs.refine.metadata import md_table
from refinery.defs.refine.resources import EngineResource, TuningResource
from refinery.publish.gate import record_verdict
from refinery.validate import validate
from refinery.validate.accounting import account


def gate_checks(graph: Graph) -> list:
    recipe, cleaned_key = graph.recipe, graph.key("cleaned")

    @dg.asset_check(
        asset=cleaned_key,
        name="gx_suite",
        blocking=True,
        description="GX Core suite over refined records: schema, ids, lengths, PII, languages, recipe's own.",
    )
    def gx_suite(
        context: dg.AssetCheckExecutionContext, cleaned: Cleaned, tuning: TuningResource, engine: EngineResource
    ) -> dg.AssetCheckResult:
        runner = engine.engine(tuning.tuning())
        report = validate([cleaned.records.path], recipe, cleaned.validation_dir, runner)
        record_verdict(cleaned.gate_dir, "gx_suite", report.success, cleaned.staged, report.summary())
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
            metadata={
                **report.summary(),
                "failures": dg.MetadataValue.md(md_table(failed)),
                "engine": dg.MetadataValue.json(runner.evidence()),
            },
        )

    @dg.asset_check(
        asset=cleaned_key,
        name="accounting",
        blocking=True,
        description="Refined + removed = records counted in the ore (independently of the readers); every doc_id "
        "once within refined, once within removed, never in both.",
    )
    def accounting(
        context: dg.AssetCheckExecutionContext, cleaned: Cleaned, tuning: TuningResource, engine: EngineResource
    ) -> dg.AssetCheckResult:
        files = cleaned.staged
        result = account(files[0], files[1:-1], cleaned.read, engine.engine(tuning.tuning()), files[0].parent)
        record_verdict(cleaned.gate_dir, "accounting", result.passed, files, result.as_dict())
        return dg.AssetCheckResult(
            passed=result.passed,
            description="; ".join(result.problems()) or "every record accounted for, exactly once",
            metadata=result.as_dict(),
        )

    return [gx_suite, accounting]
