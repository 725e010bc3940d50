import json

import polars as pl

from refinery.recipe import parse_recipe
from refinery.runtime.engine import Engine
from refinery.runtime.tuning import Sizes
from refinery.validate import build_suite, validate

_RECIPE = {
    "dataset": "t",
    "sources": [{"name": "a", "format": "jsonl", "path": "a.jsonl"}],
    "clean": {"pii": ["email"], "filters": {"min_words": 3, "max_words": 10, "languages": ["en"]}},
}


def _recipe(tmp_path, **extra):
    (tmp_path / "a.jsonl").write_text("{}\n")
    return parse_recipe({**_RECIPE, **extra}, tmp_path)


def _refined(tmp_path, **overrides):
    data = {
        "doc_id": ["a", "b"],
        "text": ["hello there friend", "a fine day today"],
        "source": ["s", "s"],
        "source_id": ["1", "2"],
        "source_uri": ["u", "u"],
        "n_words": [3, 4],
        "lang": ["en", "en"],
    }
    path = tmp_path / "refined.parquet"
    pl.DataFrame({**data, **overrides}).write_parquet(path)
    return path


def test_builtin_suite_follows_the_recipe(tmp_path):
    names = [(d.name, d.kwargs.get("column")) for d in build_suite(_recipe(tmp_path))]
    assert ("expect_column_values_to_be_unique", "doc_id") in names
    assert ("expect_column_values_to_be_between", "n_words") in names
    assert ("expect_column_values_to_not_match_regex", "text") in names
    assert ("expect_column_values_to_be_in_set", "lang") in names


def test_clean_data_passes_and_evidence_is_written(tmp_path):
    report = validate([_refined(tmp_path)], _recipe(tmp_path), tmp_path / "v")
    assert report.success and not report.warnings
    runs = json.loads((tmp_path / "v" / "gx_results.json").read_text())
    assert runs and all(run["success"] for run in runs)
    assert (tmp_path / "v" / "data_docs" / "index.html").exists()
    assert json.loads((tmp_path / "v" / "summary.json").read_text())["summary"]["success"] is True


def test_failures_name_the_expectation_and_show_examples(tmp_path):
    path = _refined(
        tmp_path,
        doc_id=["a", "a"],
        text=["hello there friend", "write to x@y.org now"],
        lang=["en", "fr"],
        n_words=[3, 40],
    )
    report = validate([path], _recipe(tmp_path))
    failed = {(o.expectation, o.column): o for o in report.failed_errors}
    assert failed[("expect_column_values_to_be_unique", "doc_id")].examples == ["a", "a"]
    assert failed[("expect_column_values_to_not_match_regex", "text")].unexpected_count == 1
    assert failed[("expect_column_values_to_be_in_set", "lang")].examples == ["fr"]
    assert failed[("expect_column_values_to_be_between", "n_words")].examples == [40]
    assert not report.success


def test_expectations_without_a_twin_run_in_gx_text_in_batches(tmp_path, monkeypatch):

    short = {"expectation": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "text", "max_value": 14}}
    path = _refined(tmp_path, text=["mail a@b.org", "and c@d.org too"])
    recipe = _recipe(tmp_path, validate={"expectations": [short]})
    report = validate([path], recipe, tmp_path / "v", engine=Engine(1, Sizes(gx_rows=1)))
    by_name = {o.expectation: o for o in report.failed_errors}
    pii = by_name["expect_column_values_to_not_match_regex"]
    assert pii.unexpected_count == 2 and pii.examples == ["mail a@b.org", "and c@d.org too"] and pii.engine == "polars"
    lengths = by_name["expect_column_value_lengths_to_be_between"]
    assert lengths.unexpected_count == 1 and lengths.engine == "gx"
    runs = json.loads((tmp_path / "v" / "gx_results.json").read_text())
    assert [r["suite_name"] for r in runs] == ["t.sampled", "t.text-0000", "t.text-0001"]


def test_polars_counts_every_row_and_gx_sees_the_flagged_ones(tmp_path, monkeypatch):
    from refinery.validate import suite as suite_module

    monkeypatch.setattr(suite_module, "SAMPLE_ROWS", 2)
    n = 500
    path = _refined(
        tmp_path,
        doc_id=[f"d{i}" for i in range(n - 1)] + ["d7"],
        text=["a fine day"] * (n - 1) + ["write to x@y.org"],
        source=["s"] * n,
        source_id=[str(i) for i in range(n)],
        source_uri=["u"] * n,
        n_words=[3] * n,
        lang=["en"] * n,
    )
    report = validate([path], _recipe(tmp_path))
    failed = {o.expectation: o for o in report.failed_errors}
    assert failed["expect_column_values_to_be_unique"].unexpected_count == 2
    assert failed["expect_column_values_to_be_unique"].examples == ["d7", "d7"]  # GX saw both flagged rows
    assert failed["expect_column_values_to_not_match_regex"].examples == ["write to x@y.org"]
    assert set(failed) == {"expect_column_values_to_be_unique", "expect_column_values_to_not_match_regex"}


def test_mostly_follows_gx(tmp_path):
    mostly = {"expectation": "expect_column_values_to_be_in_set", "kwargs": {"column": "source", "value_set": ["s"]}}
    path = _refined(tmp_path, source=["s", "t"])
    for share, passes in ((0.5, True), (0.6, False)):
        declared = {**mostly, "kwargs": {**mostly["kwargs"], "mostly": share}}
        report = validate([path], _recipe(tmp_path, validate={"expectations": [declared]}))
        (outcome,) = [o for o in report.outcomes if o.origin == "recipe"]
        assert (outcome.success, outcome.unexpected_count, outcome.engine) == (passes, 1, "polars")


def test_an_expectation_fails_where_gx_and_polars_disagree(tmp_path):
    """`&&` intersects classes in Polars' regex engine (here: nothing matches) but is a literal to pandas' engines."""
    posix = {
        "expectation": "expect_column_values_to_not_match_regex",
        "kwargs": {"column": "text", "regex": "[a&&b]"},
    }
    report = validate(
        [_refined(tmp_path, text=["room 101 is here", "a fine day today"])],
        _recipe(tmp_path, validate={"expectations": [posix]}),
    )
    (outcome,) = [o for o in report.outcomes if o.origin == "recipe"]
    assert not outcome.success and "disagree" in outcome.observed


def test_recipe_expectations_with_severity(tmp_path):
    warn = {
        "expectation": "expect_column_mean_to_be_between",
        "kwargs": {"column": "n_words", "min_value": 50},
        "severity": "warn",
    }
    report = validate([_refined(tmp_path)], _recipe(tmp_path, validate={"expectations": [warn]}))
    assert report.success and [o.expectation for o in report.warnings] == ["expect_column_mean_to_be_between"]
    error = {**warn, "severity": "error"}
    report = validate([_refined(tmp_path)], _recipe(tmp_path, validate={"expectations": [error]}))
    assert not report.success and report.failed_errors[0].origin == "recipe"


def test_counts_per_shard_add_up_to_the_counts_over_the_whole_table(tmp_path, monkeypatch):

    n = 500
    path = _refined(
        tmp_path,
        doc_id=[f"d{i}" for i in range(n - 1)] + ["d7"],  # a repeat in another shard: uniqueness sees whole columns
        text=["a fine day"] * (n - 2) + ["write to x@y.org", "or to z@w.net"],
        source=["s"] * n,
        source_id=[str(i) for i in range(n)],
        source_uri=["u"] * n,
        n_words=[3] * 100 + [40] + [3] * 300 + [1] + [3] * 98,
        lang=["en"] * n,
    )
    recipe = _recipe(tmp_path)
    whole = validate([path], recipe)
    engine = Engine(2, Sizes(count_rows=64, key_rows=64))  # uniqueness too: the ids in 8 hash partitions
    sharded = validate([path], recipe, engine=engine)
    assert engine.tasks["local"] == 8 + 8 + 8  # ceil(500 / 64) shards: counts; ids sent; partitions answered
    outcome = {(o.expectation, o.column): (o.success, o.unexpected_count, o.engine) for o in whole.outcomes}
    assert {(o.expectation, o.column): (o.success, o.unexpected_count, o.engine) for o in sharded.outcomes} == outcome
    assert outcome[("expect_column_values_to_be_unique", "doc_id")] == (False, 2, "polars")
    assert outcome[("expect_column_values_to_not_match_regex", "text")] == (False, 2, "polars")
    assert outcome[("expect_column_values_to_be_between", "n_words")] == (False, 2, "polars")


def test_gx_batches_on_worker_processes_merge_into_one_report_and_one_data_docs(tmp_path, monkeypatch):
    """Row-wise GX checks without a Polars twin run a batch per shard in spawned workers; their results add up to
    the in-process ones, and their validations appear in the run's GX results and Data Docs."""

    short = {"expectation": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "text", "max_value": 14}}
    texts = ["short one", "a text much too long", "fine", "ok", "another far too long one"]
    path = _refined(
        tmp_path,
        doc_id=list("abcde"),
        text=texts,
        source=["s"] * 5,
        source_id=list("12345"),
        source_uri=["u"] * 5,
        n_words=[3] * 5,
        lang=["en"] * 5,
    )
    recipe = _recipe(tmp_path, validate={"expectations": [short]})
    here = validate([path], recipe, tmp_path / "here")
    engine = Engine(2, Sizes(gx_rows=2))
    shards = validate([path], recipe, tmp_path / "shards", engine=engine)
    assert engine.tasks["local"] == 1 + 3  # one shard of Polars counts, three batches of text
    assert [(o.expectation, o.success, o.unexpected_count) for o in shards.outcomes] == [
        (o.expectation, o.success, o.unexpected_count) for o in here.outcomes
    ]
    lengths = next(o for o in shards.outcomes if o.expectation == short["expectation"])
    assert (lengths.success, lengths.unexpected_count, lengths.engine) == (False, 2, "gx")
    runs = json.loads((tmp_path / "shards" / "gx_results.json").read_text())
    assert [r["suite_name"] for r in runs] == ["t.sampled", "t.text-0000", "t.text-0001", "t.text-0002"]
    pages = {p.parts[-4] for p in (tmp_path / "shards" / "data_docs" / "validations").rglob("*.html")}
    assert {"text-0000", "text-0001", "text-0002"} <= pages


def test_a_pattern_gx_cannot_evaluate_fails_its_expectation(tmp_path):
    """A pattern Polars' engine reads and GX's cannot: refused when the recipe loads where Python's `re` rejects
    it; where only the engine pandas gives GX (RE2, for Arrow strings) rejects it, failed by the gate with GX's
    reason instead of passed on Polars' count alone."""
    import pytest

    from refinery.errors import RecipeError

    named = {"expectation": "expect_column_values_to_match_regex", "kwargs": {"column": "text", "regex": r"(?<w>\w)"}}
    with pytest.raises(RecipeError, match=r"regex.*Python's re cannot compile it"):
        _recipe(tmp_path, validate={"expectations": [named]})
    verbose = {**named, "kwargs": {"column": "text", "regex": "(?x) e"}}  # every row matches; RE2 cannot read it
    recipe = _recipe(tmp_path, validate={"expectations": [verbose]})
    report = validate([_refined(tmp_path)], recipe)
    (outcome,) = [o for o in report.outcomes if o.origin == "recipe"]
    assert not outcome.success and "GX could not evaluate it" in outcome.observed


def test_nested_unbounded_repeats_are_refused_at_load(tmp_path):
    import pytest

    from refinery.errors import RecipeError

    nested = {
        "expectation": "expect_column_values_to_match_regex",
        "kwargs": {"column": "text", "regex": r"(\w+\s?)*$"},
    }
    with pytest.raises(RecipeError, match=r"validate\.expectations\[0\]\.kwargs\.regex.*backtracks exponentially"):
        _recipe(tmp_path, validate={"expectations": [nested]})


def test_one_long_token_does_not_stall_the_gate(tmp_path):
    """A base64 blob and a long word in non-ASCII text: GX searches the PII patterns with a backtracking engine
    where pandas gives it one, and the e-mail pattern once cost quadratic time there (this test ran for more than
    ten minutes). Run in a process of its own: a regex search holds the GIL, so only a process can be timed out."""
    import base64
    import random
    import subprocess
    import sys

    blob = base64.b64encode(random.Random(0).randbytes(225_000)).decode()
    path = _refined(tmp_path, text=[f"déjà vu {blob} end", "é " + "a" * 300_000], n_words=[3, 3])
    _recipe(tmp_path)  # writes the ore the recipe names
    script = (
        "import sys; from pathlib import Path; from refinery.recipe import parse_recipe; "
        "from refinery.validate import validate; "
        f"recipe = parse_recipe({_RECIPE!r}, Path(sys.argv[2])); "
        "report = validate([Path(sys.argv[1])], recipe); "
        "print([(o.expectation, o.success, o.engine) for o in report.outcomes if 'regex' in o.expectation])"
    )
    done = subprocess.run(  # a guard against a stall, not a speed claim: the benchmark measures the growth
        [sys.executable, "-c", script, str(path), str(tmp_path)], capture_output=True, text=True, timeout=180
    )
    assert done.stdout.strip() == "[('expect_column_values_to_not_match_regex', True, 'polars')]", done.stderr
