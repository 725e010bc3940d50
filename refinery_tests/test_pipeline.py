"""The whole graph through Dagster on a real on-disk instance, with real GX and real Parquet."""

import json
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.defs.refine import recipe_definitions
from refinery.errors import RecipeError
from refinery.instance import get_instance
from refinery.recipe import load_recipe


def test_refine_publishes_a_complete_version(small_recipe, write_recipe, dagster_home, capsys):
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    out = capsys.readouterr().out
    root = recipe_path.parent / "refined"
    v = Catalog(root).version("small")
    assert f"Published version: {v.path}" in out.replace("\n", "")
    m = v.manifest
    # nothing is lost: refined + removed = records read, each exactly once
    refined, removed = v.scan().collect(), v.removed().collect()
    assert m["counts"]["read"] == refined.height + removed.height == 120 + 2 + 31
    assert refined.get_column("doc_id").is_unique().all()
    assert refined.join(removed, on="doc_id").height == 0
    assert {"ingest", "dedup", "clean"} == set(removed.get_column("stage"))
    assert removed.filter(pl.col("reason") == "exact_duplicate").get_column("duplicate_of").null_count() == 0
    assert m["readiness"]["level"] == "quality_assured"
    assert m["validation"]["summary"]["success"]
    kinds = {"refined", "removed", "signatures", "datacard", "validation", "croissant"}
    assert {f["kind"] for f in m["files"]} == kinds
    assert [o["path"] for o in m["ore"]] == ["ore/forums/posts.jsonl", "ore/csv/export.csv"]
    assert (v.path / "DATACARD.md").read_text().startswith("# small @ ")
    assert (v.path / "validation" / "gx_results.json").exists()
    v.verify()

    # the runs, materializations and checks are in the persistent instance
    instance = get_instance()
    assert Path(instance.root_directory) == dagster_home.resolve()
    published = instance.get_latest_materialization_event(dg.AssetKey(["small", "published"]))
    meta = published.asset_materialization.metadata
    assert meta["version"].value == v.id and meta["dagster/row_count"].value == refined.height
    assert published.run_id == m["dagster_run_id"]
    assert all(c.description for c in meta["dagster/column_schema"].value.columns)

    # the UI leads from published records to their ore: checked against the version's own files
    (sample, *_) = _md_rows(meta["lineage_samples"].value)  # those that absorbed duplicates come first
    merged = removed.filter(pl.col("duplicate_of") == sample["doc_id"])
    row = refined.filter(pl.col("doc_id") == sample["doc_id"]).row(0, named=True)
    assert sample["ore"] == f"{row['source_uri']}:{row['line']}" and int(sample["duplicates"]) == merged.height > 0
    assert f"refinery lineage small <doc_id> --version {v.id}" in meta["trace_a_record"].value

    # unchanged ore, recipe and code: same content hash, no new version, and the run says the data is unchanged
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert "no new version" in capsys.readouterr().out
    assert Catalog(root).versions("small") == [v.id]
    again = instance.get_latest_materialization_event(dg.AssetKey(["small", "published"]))
    assert again.run_id != published.run_id and again.asset_materialization.metadata["data_unchanged"].value


def _md_rows(table: str) -> list[dict[str, str]]:
    header, _, *rows = (line.strip("| ").split(" | ") for line in table.splitlines())
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_failing_error_expectation_publishes_nothing(small_recipe, write_recipe, dagster_home, capsys):
    impossible = {
        "expectation": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "source", "value_set": ["elsewhere"]},
        "severity": "error",
    }
    recipe_path = write_recipe({**small_recipe, "validate": {"expectations": [impossible]}})
    assert main(["run", "--recipe", str(recipe_path)]) == 1
    out = capsys.readouterr().out
    assert "nothing was published" in out
    assert "expect_column_values_to_be_in_set on source" in out
    dataset_dir = recipe_path.parent / "refined" / "small"
    assert not (dataset_dir / "LATEST").exists()
    assert not [p for p in dataset_dir.iterdir() if (p / "manifest.json").exists()] if dataset_dir.exists() else True


def test_warn_expectation_publishes_and_records_the_warning(small_recipe, write_recipe, dagster_home):
    warn = {
        "expectation": "expect_column_mean_to_be_between",
        "kwargs": {"column": "n_words", "min_value": 10_000},
        "severity": "warn",
    }
    recipe_path = write_recipe({**small_recipe, "validate": {"expectations": [warn]}})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    m = Catalog(recipe_path.parent / "refined").version("small").manifest
    assert m["validation"]["summary"]["warnings"] == 1
    assert [r["expectation"] for r in m["validation"]["results"] if not r["success"]] == [
        "expect_column_mean_to_be_between"
    ]


def test_bad_recipe_fails_before_anything_runs(small_recipe, write_recipe, dagster_home, capsys):
    recipe_path = write_recipe({**small_recipe, "dedupe": {}})
    assert main(["run", "--recipe", str(recipe_path)]) == 2
    assert "dedupe: unknown key" in capsys.readouterr().out
    assert not dagster_home.exists() or not get_instance().get_runs()


def test_asset_graph_shape_and_ui_metadata(small_recipe, write_recipe):
    defs = recipe_definitions(load_recipe(write_recipe(small_recipe)))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "small/ore_forums",
        "small/ore_export",
        "small/ingested_forums",
        "small/ingested_export",
        "small/deduplicated",
        "small/cleaned",
        "small/published",
    }
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {"gx_suite", "accounting"}
    cleaned = graph.get(dg.AssetKey(["small", "cleaned"]))
    assert cleaned.code_version and graph.get(dg.AssetKey(["small", "published"])).code_version
    assert defs.resolve_job_def("refine_small") is not None
    assert [s.name for s in defs.sensors] == ["observe_small_ore"]


def test_the_launchpad_offers_the_engine_settings_only(small_recipe, write_recipe):
    """The run's engine is chosen in the launchpad: kind, address, exchange, not dagster-ray's dozen settings."""
    job = recipe_definitions(load_recipe(write_recipe(small_recipe))).resolve_job_def("refine_small")
    engine = job.run_config_schema.config_type.fields["resources"].config_type.fields["engine"]
    assert set(engine.config_type.fields["config"].config_type.fields) == {"kind", "address", "exchange"}


def test_recipe_automation_becomes_a_schedule_and_an_ore_sensor(small_recipe, write_recipe):
    automation = {"schedule": "0 3 * * *", "on_new_ore": True}
    defs = recipe_definitions(load_recipe(write_recipe({**small_recipe, "automation": automation})))
    (refine,) = defs.schedules
    assert refine.cron_schedule == "0 3 * * *" and refine.job_name == "refine_small"
    (sensor,) = defs.sensors
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.job_name == "refine_small"
    quiet = recipe_definitions(load_recipe(write_recipe(small_recipe)))
    assert not quiet.schedules
    (observer,) = quiet.sensors  # observes the ore, running, but launches nothing
    assert observer.default_status == dg.DefaultSensorStatus.RUNNING and not observer.targets


def _tick(sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
    """One evaluation, and its observations stored as the daemon stores them."""
    result = sensor(dg.build_sensor_context(cursor=cursor, instance=get_instance()))
    for event in result.asset_events:
        get_instance().report_runless_asset_event(event)
    return result


def test_the_ore_sensor_requests_a_run_for_every_change_reverts_included(
    small_recipe, write_recipe, small_ore, dagster_home
):
    """A file added, then deleted: the ore is as it was, but LATEST holds the added file's documents, so the
    deletion is a change to refine. The run key once was the fingerprint, which the daemon had already used."""
    (sensor,) = recipe_definitions(
        load_recipe(write_recipe({**small_recipe, "automation": {"on_new_ore": True}}))
    ).sensors
    cursor, keys = None, []
    extra = small_ore / "forums" / "extra.jsonl"
    for step in ("start", "add", "unchanged", "delete"):
        if step == "add":
            extra.write_text(json.dumps({"post_id": "x1", "body": "a new post"}) + "\n")
        elif step == "delete":
            extra.unlink()
        result = _tick(sensor, cursor)
        cursor = result.cursor
        if step == "unchanged":
            assert not result.run_requests and "ore unchanged since change 2" in result.skip_reason.skip_message
            continue
        (request,) = result.run_requests
        keys.append(request.run_key)
        assert {e.asset_key.path[-1]: e.metadata["files"].value for e in result.asset_events} == {
            "ore_forums": 2 if step == "add" else 1,
            "ore_export": 1,
        }
    assert len(set(keys)) == 3  # the revert is refined too
    restarted = _tick(sensor, None)  # a new cursor: ore as last observed is no change, so no run at start-up
    assert not restarted.run_requests and "ore unchanged" in restarted.skip_reason.skip_message


def test_manifest_is_json_and_written_last(small_recipe, write_recipe, dagster_home):
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    v = Catalog(recipe_path.parent / "refined").version("small")
    newest = max(p.stat().st_mtime_ns for p in v.path.rglob("*") if p.is_file())
    assert (v.path / "manifest.json").stat().st_mtime_ns == newest
    assert json.loads((v.path / "manifest.json").read_text())["version"] == v.id


def test_stored_signatures_are_reused_only_when_compatible(small_recipe, write_recipe, dagster_home):
    from refinery.defs.refine.stages import previous_version as _previous

    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert _previous(load_recipe(recipe_path)).signatures is not None
    changed = write_recipe({**small_recipe, "dedup": {"near": {"num_perm": 64}}})
    assert _previous(load_recipe(changed)).signatures is None


def test_dataset_names_with_one_asset_key_are_a_recipe_error(small_recipe, write_recipe):
    """`small-set` and `small.set` are both `small_set` to Dagster: the second recipe is named as the error."""
    from refinery.definitions import build_definitions

    first = write_recipe({**small_recipe, "dataset": "small-set"}, "a.yaml")
    second = write_recipe({**small_recipe, "dataset": "small.set"}, "b.yaml")
    with pytest.raises(RecipeError, match=r"b.yaml: .*'small.set' has the Dagster names of dataset 'small-set' \(a"):
        build_definitions([first, second])


def _status(defs: dg.Definitions, key: str):
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.loader import LoadingContextForTest

    resolver = CachingStaleStatusResolver(
        get_instance(), defs.resolve_asset_graph(), LoadingContextForTest(get_instance())
    )
    return resolver.get_status(dg.AssetKey(key.split("/")))


def test_changed_ore_marks_assets_stale_until_the_next_run(small_recipe, write_recipe, small_ore, dagster_home):
    from dagster._core.definitions.data_version import StaleStatus

    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    defs = recipe_definitions(load_recipe(recipe_path))
    assert _status(defs, "small/ingested_forums") == StaleStatus.FRESH  # the run observed the ore it read
    posts = small_ore / "forums" / "posts.jsonl"
    posts.write_text(posts.read_text() + '{"post_id": "late", "body": "a late post"}\n')
    (sensor,) = defs.sensors
    assert _tick(sensor, None).asset_events  # observed without a run
    assert _status(defs, "small/ingested_forums") == StaleStatus.STALE
    assert _status(defs, "small/ingested_export") == StaleStatus.FRESH
    assert _status(defs, "small/published") == StaleStatus.STALE  # what the trainers read is behind the ore
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert _status(defs, "small/ingested_forums") == StaleStatus.FRESH
    assert _status(defs, "small/published") == StaleStatus.FRESH


def test_cleaned_metadata_shows_removed_examples_per_filter_and_language_scores(tmp_path, rng):
    from refinery.clean import clean
    from refinery.defs.refine.metadata import language_by_source, removed_examples
    from refinery.recipe import Clean, Filters
    from refinery_tests.conftest import ingested_frame
    from refinery_tests.synth import document

    texts = [document(rng) for _ in range(30)] + [f"short post {i}" for i in range(30)]
    ingested_frame(texts).write_parquet(tmp_path / "in.parquet")
    result = clean(tmp_path / "in.parquet", tmp_path / "out", Clean(filters=Filters(min_words=20)))
    examples = removed_examples(tmp_path / "in.parquet", result.removed)
    short = [e for e in examples if e["reason"] == "min_words"]
    assert len(short) == 20 and all(e["text"].startswith("short post") for e in short)  # 20 of the 30
    assert examples == removed_examples(tmp_path / "in.parquet", result.removed)  # repeatable
    (scores,) = language_by_source(result.cleaned)
    assert scores["source"] == "s" and scores["documents"] == result.rows_kept and scores["top_language"] == "en"
    assert 0 < scores["p10"] <= scores["median"] <= scores["p90"] <= 1


def test_decontamination_removes_every_planted_overlap_and_nothing_of_a_control_set(
    small_recipe, write_recipe, dagster_home, tmp_path
):
    """Five refined posts have a 13-word run copied, in another case and punctuation, into an evaluation set; five
    others share only 12 words with a control set. The five go as `contaminated`, each naming its set and
    13-gram, counted per set in the manifest; the control set removes nothing."""
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    refined = Catalog(recipe_path.parent / "refined").version("small").scan().collect()
    words = [re.findall(r"\w+", t.lower()) for t in refined.get_column("text")]
    ids = refined.get_column("doc_id").to_list()
    spaced = [" " + " ".join(w) + " " for w in words]
    # posts whose words 10-23 are theirs alone (the synthetic posts share template phrases)
    unique = [
        i for i, w in enumerate(words) if len(w) > 40 and sum(f" {' '.join(w[10:23])} " in s for s in spaced) == 1
    ]
    planted, control = unique[:5], unique[5:10]
    evals = recipe_path.parent / "eval"
    evals.mkdir()
    quiz = [{"question": "Q: " + " ".join(words[i][10:23]).upper().replace(" ", " , ") + " ?"} for i in planted]
    near = [{"question": " ".join(words[i][10:22]) + " zzyzx"} for i in control]
    (evals / "quiz.jsonl").write_text("\n".join(json.dumps(q) for q in quiz) + "\n")
    (evals / "control.jsonl").write_text("\n".join(json.dumps(q) for q in near) + "\n")
    decontaminate = {"against": ["eval/*.jsonl"], "field": "question", "ngram": 13}
    again = write_recipe({**small_recipe, "output": "clean", "decontaminate": decontaminate}, "d.yaml")
    assert main(["run", "--recipe", str(again)]) == 0
    version = Catalog(again.parent / "clean").version("small")
    gone = version.removed().filter(pl.col("reason") == "contaminated").collect()
    assert sorted(gone.get_column("doc_id")) == sorted(ids[i] for i in planted)
    for row in gone.iter_rows(named=True):
        i = ids.index(row["doc_id"])
        assert row["detail"] == f"contaminated: quiz 13-gram '{' '.join(words[i][10:23])}'"
    kept = version.scan().select("doc_id").collect().get_column("doc_id")
    assert all(ids[i] in kept.to_list() for i in control)
    assert version.manifest["stages"]["clean"]["contaminated"] == {"quiz": 5}
