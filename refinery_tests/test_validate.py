import json

import polars as pl

from refinery.recipe import parse_recipe
from refinery.validate import build_suite, validate


def _recipe(tmp_path, **extra):
    (tmp_path / "a.jsonl").write_text("{}\n")
    data = {
        "dataset": "t",
        "sources": [{"name": "a", "format": "jsonl", "path": "a.jsonl"}],
        "clean": {"pii": ["email"], "filters": {"min_words": 3, "max_words": 10, "languages": ["en"]}},
        **extra,
    }
    return parse_recipe(data, tmp_path)


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


def test_row_wise_text_checks_run_in_batches(tmp_path, monkeypatch):
    from refinery.validate import suite as suite_module

    monkeypatch.setattr(suite_module, "BATCH_ROWS", 1)
    path = _refined(tmp_path, text=["mail a@b.org", "and c@d.org too"])
    report = validate([path], _recipe(tmp_path), tmp_path / "v")
    (pii,) = [o for o in report.failed_errors if o.expectation == "expect_column_values_to_not_match_regex"]
    assert pii.unexpected_count == 2 and pii.examples == ["mail a@b.org", "and c@d.org too"]
    runs = json.loads((tmp_path / "v" / "gx_results.json").read_text())
    assert len(runs) == 4  # whole columns, 2 batches of row-wise text checks, the PII suspects


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
