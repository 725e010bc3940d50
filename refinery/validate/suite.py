"""The built-in expectation suite for refined records, run with GX Core on the needed columns only."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from refinery.clean.config import Clean
from refinery.runtime.engine import Engine
from refinery.runtime.keys import Keyed, partitioned
from refinery.runtime.shards import Where, run_sharded
from refinery.validate.config import Validate
from refinery.validate.expectations import make_expectation
from refinery.validate.twins import Twin, twin

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
    engine: str = "gx"  # gx: GX over the rows; polars: the Polars twin over every row, GX over a sample (twins.py)


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


class Promised(Protocol):
    """What the suite checks a dataset against: what its recipe (`refinery.recipe.Recipe`) promises."""

    @property
    def dataset(self) -> str: ...

    @property
    def clean(self) -> Clean: ...

    @property
    def validate_(self) -> Validate: ...


def build_suite(recipe: Promised) -> list[Declared]:
    """Schema, non-null and unique ids, lengths within the recipe's bounds, no unredacted PII, languages in set."""
    from refinery.clean.pii import FIND  # here: the cleaning package brings its compiled kernels along

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
        if kind in FIND:
            suite.append(
                Declared(
                    "expect_column_values_to_not_match_regex",
                    {"column": "text", "regex": FIND[kind]},
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


SAMPLE_ROWS = 10_000  # rows GX validates for the expectations Polars counts, beside the flagged ones
FLAGGED_ROWS = 1_000  # flagged rows per expectation that GX also sees
# characters of a searched value GX sees in the sample: GX searches with Python's backtracking `re`, so a pattern
# that is quadratic on one long token would stall the gate; Polars, linear, searches every value whole
GX_TEXT_CHARS = 20_000
WHOLE_COLUMN = {"expect_column_values_to_be_unique"}  # twins that compare rows with each other: not per shard
SCHEMA_ONLY = {  # table expectations that need the columns, not the rows
    "expect_column_to_exist",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
}


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
        self.raw: list[dict] = []  # GX's own results, every run: the validator of record

    def run(self, group: str, suite: dict[int, Declared], frame: pl.DataFrame) -> dict[int, Any]:
        """GX's result for each expectation of `suite` over `frame`, by the same keys."""
        gx = self.gx
        gx_suite = self.context.suites.add(gx.ExpectationSuite(name=f"{self.name}.{group}"))
        key_of = {gx_suite.add_expectation(make_expectation(d.name, dict(d.kwargs))).id: k for k, d in suite.items()}
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
        result = checkpoint.run(batch_parameters={"dataframe": frame.to_pandas()})
        found = {}
        for validation in result.run_results.values():
            self.raw.append(validation.to_json_dict())
            found |= {key_of[res.expectation_config.id]: res.to_json_dict() for res in validation.results}
        return found

    def record(self, raw: list[dict]) -> None:
        """GX results of validations run elsewhere (the shards), added to this context's store and Data Docs."""
        from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        for validation in raw:
            result = ExpectationSuiteValidationResultSchema().load(validation)
            key = ValidationResultIdentifier(
                ExpectationSuiteIdentifier(result.suite_name), result.meta["run_id"], "shard"
            )
            self.context.validation_results_store.set(key, result)
            self.raw.append(validation)
        if raw:
            self.context.build_data_docs()

    def docs_dir(self) -> Path:
        url = self.context.get_docs_sites_urls()[0]["site_url"]
        return Path(url.removeprefix("file://")).parent


def _merge(outcomes: dict[int, ExpectationOutcome], key: int, declared: Declared, res: dict) -> None:
    """Add one GX result (as JSON) to the expectation's outcome: failed if any part failed, counts summed."""
    info = res.get("result") or {}
    outcome = outcomes.setdefault(
        key, ExpectationOutcome(declared.name, declared.kwargs.get("column"), declared.severity, declared.origin, True)
    )
    outcome.success = outcome.success and bool(res["success"])
    if error := _gx_error(res):
        outcome.success, outcome.observed = False, f"GX could not evaluate it: {error}"
    if info.get("unexpected_count") is not None:
        outcome.unexpected_count = (outcome.unexpected_count or 0) + info["unexpected_count"]
    outcome.examples = (outcome.examples + [_short(v) for v in info.get("partial_unexpected_list", [])])[:5]
    if info.get("observed_value") is not None:
        outcome.observed = _short(info["observed_value"])


def _gx_error(res: dict) -> str | None:
    """The message of an exception GX raised evaluating an expectation (it reports it instead of raising)."""
    info = res.get("exception_info") or {}
    for entry in [info, *(v for v in info.values() if isinstance(v, dict))]:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "an exception").splitlines()[0][:200]
    return None


def _sample(scan: pl.LazyFrame, twins: dict[int, Twin], counts: dict[int, tuple[int, int]], rows: int) -> pl.DataFrame:
    """Up to FLAGGED_ROWS flagged rows of each expectation that found any, then SAMPLE_ROWS in 10 slices spread
    over the table (slices read only their row groups; a strided sample would load every column whole)."""
    parts = [
        scan.with_row_index("_row").filter(twins[i].unexpected).head(FLAGGED_ROWS).collect(engine="streaming")
        for i, (bad, _) in counts.items()
        if bad
    ]
    size = max(SAMPLE_ROWS // 10, 1)
    starts = sorted({rows * k // 10 for k in range(10)})
    parts += [scan.slice(start, size).with_row_index("_row", offset=start).collect() for start in starts]
    return pl.concat(parts).unique("_row", keep="first", maintain_order=True).drop("_row")


def _count(
    parquet: list[Path], rows: int, twins: dict[int, Twin], suite: list[Declared], engine: Engine
) -> dict[int, tuple[int, int]]:
    """(unexpected, looked at) of every twin. Checks of each row on its own are counted per shard of `count_rows`
    rows on the engine and summed; uniqueness compares rows with each other, and is counted one hash partition of
    its column at a time (`refinery.runtime.keys`), every copy of a value in one partition."""
    whole = {i: t for i, t in twins.items() if suite[i].name in WHOLE_COLUMN}
    per_row = {i: t for i, t in twins.items() if i not in whole}
    shard = engine.sizes.count_rows
    shards = [(start, shard) for start in range(0, rows, shard)]
    counts = dict.fromkeys(twins, (0, 0))
    count_shard = partial(_count_rows, per_row, suite)
    found = run_sharded(count_shard, shards, engine, inputs=parquet) if per_row else []
    for column in {suite[i].kwargs["column"] for i in whole}:  # a partition holds every copy of a value
        members = {i: t for i, t in whole.items() if suite[i].kwargs["column"] == column}
        found += partitioned({"values": parquet}, column, partial(_count_partition, members, suite), engine)
    for part in found:
        counts |= {i: (counts[i][0] + bad, counts[i][1] + seen) for i, (bad, seen) in part.items()}
    return counts


def _count_partition(
    twins: dict[int, Twin], suite: list[Declared], keyed: Keyed, partition: int
) -> dict[int, tuple[int, int]]:
    return _count_shard(twins, suite, keyed.scan("values", partition))


def _count_rows(
    twins: dict[int, Twin], suite: list[Declared], where: Where, shard: tuple[int, int]
) -> dict[int, tuple[int, int]]:
    start, length = shard
    return _count_shard(twins, suite, pl.scan_parquet(list(where.inputs)).slice(start, length))


def _count_shard(twins: dict[int, Twin], suite: list[Declared], scan: pl.LazyFrame) -> dict[int, tuple[int, int]]:
    """(unexpected, looked at) of `twins` over the rows of `scan`, one streamed pass per column."""
    by_column: dict[str, list[int]] = {}
    for i in twins:
        by_column.setdefault(suite[i].kwargs["column"], []).append(i)
    counts = {}
    for members in by_column.values():
        totals = scan.select(
            pl.struct(bad=twins[i].unexpected.sum(), seen=twins[i].counted.sum()).alias(str(i)) for i in members
        ).collect(engine="streaming")
        counts |= {i: (totals[0, str(i)]["bad"], totals[0, str(i)]["seen"]) for i in members}
    return counts


def _polars_with_gx_sample(
    runner: _Runner,
    suite: list[Declared],
    twins: dict[int, Twin],
    schema: list[int],
    parquet: list[Path],
    rows: int,
    engine: Engine,
) -> dict[int, ExpectationOutcome]:
    """Twin expectations counted by Polars over every row; GX validates them (and the schema-only ones) on the
    flagged and sampled rows, and an expectation whose two engines disagree on those rows fails."""
    counts = _count(parquet, rows, twins, suite, engine)
    sample = _sample(pl.scan_parquet(parquet), twins, counts, rows)
    searched = {suite[i].kwargs["column"] for i in twins if "regex" in suite[i].kwargs}
    sample = sample.with_columns(pl.col(c).cast(pl.String).str.slice(0, GX_TEXT_CHARS) for c in searched)
    checked = runner.run("sampled", {i: suite[i] for i in [*twins, *schema]}, sample)
    in_sample = sample.select(t.unexpected.sum().alias(str(i)) for i, t in twins.items())
    outcomes: dict[int, ExpectationOutcome] = {}
    for i in schema:
        _merge(outcomes, i, suite[i], checked[i])
    for i, t in twins.items():
        d, (bad, seen), info = suite[i], counts[i], checked[i].get("result") or {}
        gx_bad, error = info.get("unexpected_count", 0), _gx_error(checked[i])
        agree = gx_bad == in_sample[0, str(i)] and error is None
        disagreement = f"GX and Polars disagree on {sample.height} rows: {gx_bad} vs {in_sample[0, str(i)]} unexpected"
        outcomes[i] = ExpectationOutcome(
            d.name,
            d.kwargs.get("column"),
            d.severity,
            d.origin,
            t.success(bad, seen) and agree,
            unexpected_count=bad,
            examples=[_short(v) for v in info.get("partial_unexpected_list", [])][:5],
            observed=None if agree else (f"GX could not evaluate it: {error}" if error else disagreement),
            engine="polars",
        )
    return outcomes


def _gx_on_text(
    name: str, suite: dict[int, Declared], where: Where, batch: tuple[int, int, int]
) -> tuple[dict[int, dict], list[dict]]:
    """GX over rows [start, start + length) of `text`, on a worker (GX runs on pandas and holds the GIL): each
    expectation's result and GX's own results, as JSON, for the run's report and Data Docs."""
    number, start, length = batch
    runner = _Runner(name)
    text = pl.scan_parquet(list(where.inputs)).select("text").slice(start, length).collect()
    try:
        return runner.run(f"text-{number:04d}", suite, text), runner.raw
    finally:
        shutil.rmtree(runner.docs_dir(), ignore_errors=True)  # the worker's copy; the run's report renders them


def validate(
    parquet: list[Path], recipe: Promised, out_dir: Path | None = None, engine: Engine | None = None
) -> ValidationReport:
    """Run the suite on the refined rows; write GX's JSON results and Data Docs to `out_dir` when given.

    Column-map expectations with a Polars twin are counted over every row by Polars, per shard on the engine, and
    validated by GX on the flagged rows and a sample; the others run in GX: row-wise checks on `text` a batch of
    `gx_rows` (`Sizes`) at a time, each a shard on the engine, the rest on their own (small) columns, whole. Every
    result is merged into one report, and into one set of Data Docs.
    """
    started = time.perf_counter()
    suite = build_suite(recipe)
    scan = pl.scan_parquet(parquet)
    available = scan.collect_schema().names()
    rows = scan.select(pl.len()).collect().item()
    twins = {i: t for i, d in enumerate(suite) if (t := twin(d.name, d.kwargs, available)) is not None}
    schema = [i for i, d in enumerate(suite) if d.name in SCHEMA_ONLY]
    rest = [i for i in range(len(suite)) if i not in twins and i not in schema]
    row_wise = [i for i in rest if "text" in available and _row_wise_on_text(suite[i])]
    whole = [i for i in rest if i not in row_wise]
    runner, engine = _Runner(recipe.dataset), engine or Engine()
    outcomes = _polars_with_gx_sample(runner, suite, twins, schema, parquet, rows, engine)
    if whole:
        columns = [c for c in available if c in _columns([suite[i] for i in whole])]
        for i, res in runner.run("columns", {i: suite[i] for i in whole}, scan.select(columns).collect()).items():
            _merge(outcomes, i, suite[i], res)
    step = engine.sizes.gx_rows  # row-wise expectations on `text` without a twin: memory stays bounded
    batches = [(number, start, step) for number, start in enumerate(range(0, max(rows, 1), step))]
    on_text = partial(_gx_on_text, recipe.dataset, {i: suite[i] for i in row_wise})
    elsewhere: list[dict] = []  # the shards' GX results, recorded (and rendered) once
    marks = out_dir / ".shards" if out_dir is not None else None  # a killed check resumes from its finished shards
    gx = partial(run_sharded, inputs=parquet, processes=True, parts=marks, resumable=marks is not None)
    for found, raw in gx(on_text, batches, engine) if row_wise else []:
        for i, res in found.items():
            _merge(outcomes, i, suite[i], res)
        elsewhere += raw
    runner.record(elsewhere)
    report = ValidationReport([outcomes[i] for i in sorted(outcomes)], rows, time.perf_counter() - started)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "gx_results.json").write_text(json.dumps(runner.raw, indent=2, default=str))
        (out_dir / "summary.json").write_text(report.to_json())
        shutil.copytree(runner.docs_dir(), out_dir / "data_docs", dirs_exist_ok=True)
        shutil.rmtree(out_dir / ".shards", ignore_errors=True)
    shutil.rmtree(runner.docs_dir(), ignore_errors=True)
    return report


def _short(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return value[:80] + "…" if isinstance(value, str) and len(value) > 80 else value
