"""The built-in expectation suite for refined records, run with GX Core on the needed columns only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from refinery.clean.pii import PATTERNS
from refinery.recipe import Recipe
from refinery.validate.expectations import make_expectation

REQUIRED_COLUMNS = ["doc_id", "text", "source", "source_id", "source_uri", "n_words", "lang"]


@dataclass(frozen=True)
class Declared:
    name: str
    kwargs: dict[str, Any]
    severity: str  # error | warn
    origin: str  # builtin | recipe


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    severity: str
    origin: str
    success: bool
    unexpected_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    observed: Any = None


@dataclass
class ValidationReport:
    outcomes: list[ExpectationOutcome]
    rows: int
    seconds: float

    @property
    def failed_errors(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]

    @property
    def success(self) -> bool:
        return not self.failed_errors

    def summary(self) -> dict:
        return {
            "success": self.success,
            "evaluated": len(self.outcomes),
            "failed_errors": len(self.failed_errors),
            "warnings": len(self.warnings),
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        data = json.loads(text)
        outcomes = [ExpectationOutcome(**o) for o in data["results"]]
        return cls(outcomes, data["summary"]["rows"], data["summary"]["seconds"])

    def to_json(self) -> str:
        return json.dumps(
            {"summary": self.summary(), "results": [asdict(o) for o in self.outcomes]}, indent=2, default=str
        )


def build_suite(recipe: Recipe) -> list[Declared]:
    """Schema, non-null and unique ids, lengths within the recipe's bounds, no unredacted PII, languages in set."""
    suite = [Declared("expect_column_to_exist", {"column": c}, "error", "builtin") for c in REQUIRED_COLUMNS]
    suite += [
        Declared("expect_column_values_to_not_be_null", {"column": c}, "error", "builtin")
        for c in ("doc_id", "text", "source", "source_id")
    ]
    suite.append(Declared("expect_column_values_to_be_unique", {"column": "doc_id"}, "error", "builtin"))
    filters = recipe.clean.filters
    if filters.min_words is not None or filters.max_words is not None:
        bounds = {"min_value": filters.min_words, "max_value": filters.max_words}
        suite.append(
            Declared("expect_column_values_to_be_between", {"column": "n_words", **bounds}, "error", "builtin")
        )
    for kind in recipe.clean.pii:
        if kind in PATTERNS:
            suite.append(
                Declared(
                    "expect_column_values_to_not_match_regex",
                    {"column": "text", "regex": PATTERNS[kind]},
                    "error",
                    "builtin",
                )
            )
    if filters.languages:
        suite.append(
            Declared(
                "expect_column_values_to_be_in_set",
                {"column": "lang", "value_set": filters.languages},
                "error",
                "builtin",
            )
        )
    suite += [Declared(e.expectation, dict(e.kwargs), e.severity, "recipe") for e in recipe.validate_.expectations]
    return suite


def _columns(suite: list[Declared], available: list[str]) -> list[str]:
    wanted = {d.kwargs[k] for d in suite for k in ("column", "column_A", "column_B") if k in d.kwargs}
    wanted |= {c for d in suite for c in d.kwargs.get("column_list", [])}
    return [c for c in available if c in wanted]


def validate(parquet: list[Path], recipe: Recipe, out_dir: Path | None = None) -> ValidationReport:
    """Run the suite on the refined rows; write GX's JSON results (and Data Docs) to `out_dir` when given."""
    import time

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    started = time.perf_counter()
    suite = build_suite(recipe)
    scan = pl.scan_parquet(parquet)
    available = scan.collect_schema().names()
    columns = _columns(suite, available)
    frame = scan.select(columns).collect().to_pandas()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("refinery")
        .add_dataframe_asset("refined")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=f"{recipe.dataset}.refined"))
    by_id = {}
    for declared in suite:
        by_id[gx_suite.add_expectation(make_expectation(declared.name, dict(declared.kwargs))).id] = declared
    result = batch.validate(gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    outcomes = []
    for res in result.results:
        declared, info = by_id[res.expectation_config.id], res.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=declared.name,
                column=declared.kwargs.get("column"),
                severity=declared.severity,
                origin=declared.origin,
                success=bool(res.success),
                unexpected_count=info.get("unexpected_count"),
                examples=[_short(v) for v in info.get("partial_unexpected_list", [])[:5]],
                observed=_short(info.get("observed_value")),
            )
        )
    report = ValidationReport(outcomes, len(frame), time.perf_counter() - started)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "gx_results.json").write_text(json.dumps(result.to_json_dict(), indent=2, default=str))
        (out_dir / "summary.json").write_text(report.to_json())
    return report


def _short(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return value[:80] + "…" if isinstance(value, str) and len(value) > 80 else value
