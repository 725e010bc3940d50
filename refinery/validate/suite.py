"""The built-in expectation suite for refined records, run with GX Core on the needed columns only."""

from __future__ import annotations

import json
import shutil
import time
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


BATCH_ROWS = 250_000  # row-wise expectations on `text` run a batch at a time: memory stays bounded


def _columns(suite: list[Declared]) -> set[str]:
    wanted = {d.kwargs[k] for d in suite for k in ("column", "column_A", "column_B") if k in d.kwargs}
    return wanted | {c for d in suite for c in d.kwargs.get("column_list", [])}


def _row_wise_on_text(declared: Declared) -> bool:
    """Checks of each `text` value on its own can run batch by batch; everything else sees whole columns."""
    from great_expectations.expectations.expectation import ColumnMapExpectation

    from refinery.validate.expectations import expectation_class

    on_text = declared.kwargs.get("column") == "text"
    return on_text and issubclass(expectation_class(declared.name), ColumnMapExpectation)


class _Runner:
    """An ephemeral GX context with one checkpoint per group of expectations; results also go to Data Docs."""

    def __init__(self, name: str):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx, self.name = gx, name
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.batches = self.context.data_sources.add_pandas("refinery").add_dataframe_asset("refined")
        self.batch_definition = self.batches.add_batch_definition_whole_dataframe("refined")

    def checkpoint(self, group: str, suite: list[Declared]):
        gx = self.gx
        gx_suite = self.context.suites.add(gx.ExpectationSuite(name=f"{self.name}.{group}"))
        by_id = {gx_suite.add_expectation(make_expectation(d.name, dict(d.kwargs))).id: d for d in suite}
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{self.name}.{group}", data=self.batch_definition, suite=gx_suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"{self.name}.{group}",
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        return checkpoint, by_id

    def docs_dir(self) -> Path:
        url = self.context.get_docs_sites_urls()[0]["site_url"]
        return Path(url.removeprefix("file://")).parent


def _merge(outcomes: dict[int, ExpectationOutcome], key: int, declared: Declared, res) -> None:
    info = res.result or {}
    outcome = outcomes.setdefault(
        key, ExpectationOutcome(declared.name, declared.kwargs.get("column"), declared.severity, declared.origin, True)
    )
    outcome.success = outcome.success and bool(res.success)
    if info.get("unexpected_count") is not None:
        outcome.unexpected_count = (outcome.unexpected_count or 0) + info["unexpected_count"]
    outcome.examples = (outcome.examples + [_short(v) for v in info.get("partial_unexpected_list", [])])[:5]
    if info.get("observed_value") is not None:
        outcome.observed = _short(info["observed_value"])


def validate(parquet: list[Path], recipe: Recipe, out_dir: Path | None = None) -> ValidationReport:
    """Run the suite on the refined rows; write GX's JSON results and Data Docs to `out_dir` when given.

    Row-wise checks on `text` run a batch of `BATCH_ROWS` at a time; the others see only their own (small)
    columns, whole. GX gets pandas frames of exactly those columns.
    """
    started = time.perf_counter()
    suite = build_suite(recipe)
    scan = pl.scan_parquet(parquet)
    available = scan.collect_schema().names()
    has_text = "text" in available
    # "no unredacted PII": Polars finds the rows a pattern matches (the same regex, much faster than pandas'),
    # and GX checks and reports only those rows; a row the pattern cannot match cannot fail the expectation
    pii = [d for d in suite if d.origin == "builtin" and d.name == "expect_column_values_to_not_match_regex"]
    row_wise = [d for d in suite if has_text and _row_wise_on_text(d) and d not in pii]
    whole = [d for d in suite if d not in row_wise and d not in pii]
    runner = _Runner(recipe.dataset)
    outcomes: dict[int, ExpectationOutcome] = {}
    raw: list[dict] = []
    index = {id(d): i for i, d in enumerate(suite)}

    def run(group: str, declared: list[Declared], frame) -> None:
        checkpoint, by_id = runner.checkpoint(group, declared)
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        for validation in result.run_results.values():
            raw.append(validation.to_json_dict())
            for res in validation.results:
                d = by_id[res.expectation_config.id]
                _merge(outcomes, index[id(d)], d, res)

    columns = [c for c in available if c in _columns(whole)]
    run("columns", whole, scan.select(columns).collect().to_pandas())
    rows = scan.select(pl.len()).collect().item()
    if row_wise:
        for number, start in enumerate(range(0, max(rows, 1), BATCH_ROWS)):
            run(f"text-{number:04d}", row_wise, scan.select("text").slice(start, BATCH_ROWS).collect().to_pandas())
    if pii and has_text:
        suspects = pl.any_horizontal(pl.col("text").str.contains(d.kwargs["regex"]) for d in pii)
        run("pii", pii, scan.select("text").filter(suspects.fill_null(False)).collect().to_pandas())
    report = ValidationReport([outcomes[i] for i in sorted(outcomes)], rows, time.perf_counter() - started)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "gx_results.json").write_text(json.dumps(raw, indent=2, default=str))
        (out_dir / "summary.json").write_text(report.to_json())
        shutil.copytree(runner.docs_dir(), out_dir / "data_docs", dirs_exist_ok=True)
    return report


def _short(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return value[:80] + "…" if isinstance(value, str) and len(value) > 80 else value
