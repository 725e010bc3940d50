"""Drops as partitions: each drop folder is ingested once, alone; every ingested drop is refined together, even
after the drop was deleted; the sensor adds new drops and asks for the refinement once they are ingested."""

import json
import random
import shutil

import dagster as dg
import polars as pl

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.defs.refine import recipe_definitions
from refinery.instance import get_instance
from refinery.recipe import load_recipe
from refinery_tests.synth import document


def _drop(root, name: str, posts: list[str], tickets: list[str] = ()) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "posts.jsonl").write_text("\n".join(json.dumps({"body": p}) for p in posts) + "\n")
    if tickets:
        (folder / "tickets.csv").write_text("id,body\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(tickets)))


def _ingest_runs(drop: str) -> int:
    key = dg.AssetKey(["drops", "ingested_posts"])
    records = get_instance().fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[drop]), 10)
    return len(records.records)


def test_each_drop_is_ingested_once_and_every_drop_is_refined(write_recipe, tmp_path, dagster_home):
    rng = random.Random(8)
    docs = [document(rng) for _ in range(9)]
    drops = tmp_path / "ore" / "drops"
    _drop(drops, "2026-11-01", docs[:4], docs[4:6])
    _drop(drops, "2026-11-02", [docs[6], docs[0].replace(" ", "  ")])  # the second repeats a post of the first
    recipe_path = write_recipe(
        {
            "dataset": "drops",
            "output": "refined",
            "drops": "ore/drops/*",
            "sources": [
                {"name": "posts", "format": "jsonl", "path": "*.jsonl", "text_field": "body", "license": "x"},
                {"name": "tickets", "format": "csv", "path": "*.csv", "text_field": "body", "license": "x"},
            ],
            "clean": {"filters": {"min_words": 20}},
            "publish": {"max_drop": None},
        }
    )
    from refinery.definitions import build_definitions

    build_definitions([recipe_path], get_instance())  # as the code location loads beside the instance
    assert get_instance().get_dynamic_partitions("drops_drops") == ["2026-11-01", "2026-11-02"]  # before any run
    catalog = Catalog(tmp_path / "refined")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    first = catalog.version("drops")
    assert first.manifest["counts"]["read"] == 8 and first.manifest["counts"]["refined"] == 7
    assert first.removed().collect().get_column("reason").to_list() == ["exact_duplicate"]

    _drop(drops, "2026-11-03", docs[7:9])
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert [_ingest_runs(d) for d in ("2026-11-01", "2026-11-02", "2026-11-03")] == [1, 1, 1]  # only the new one
    assert catalog.version("drops").manifest["counts"]["refined"] == 9

    shutil.rmtree(drops / "2026-11-01")  # consumed, then deleted: its documents stay
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    texts = set(catalog.version("drops").scan().collect().get_column("text"))
    assert set(docs[:4]) <= texts and len(texts) == 9

    # the sensor: a new drop becomes a partition and an ingest run; once ingested, one refinement follows
    defs = recipe_definitions(load_recipe(recipe_path))
    sensor = next(s for s in defs.sensors if s.name == "refine_drops_on_new_drops")
    _drop(drops, "2026-11-04", [document(rng)])
    with dg.build_sensor_context(instance=get_instance()) as context:
        result = sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["2026-11-04"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["2026-11-04"]
    get_instance().add_dynamic_partitions("drops_drops", ["2026-11-04"])
    ingest = defs.resolve_job_def("ingest_drops")
    assert ingest.execute_in_process(instance=get_instance(), partition_key="2026-11-04").success
    with dg.build_sensor_context(instance=get_instance()) as context:
        (refine,) = sensor(context).run_requests
    assert refine.job_name == "refine_drops"
    assert defs.resolve_job_def("refine_drops").execute_in_process(instance=get_instance()).success
    assert catalog.version("drops").manifest["counts"]["refined"] == 10
    with dg.build_sensor_context(instance=get_instance()) as context:
        assert isinstance(sensor(context), dg.SkipReason)

    # a backfill of a chosen drop re-ingests it alone; the same data makes no new version
    versions = catalog.versions("drops")
    assert ingest.execute_in_process(instance=get_instance(), partition_key="2026-11-02").success
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    assert catalog.versions("drops") == versions and _ingest_runs("2026-11-02") == 2
    assert pl.concat([catalog.version("drops").scan().collect()]).get_column("doc_id").is_unique().all()


def _posts(folder, records: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "posts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_append_mode_keeps_documents_without_an_id(write_recipe, tmp_path, dagster_home):
    """Records whose id is missing, null or blank are identified by their text: a drop consumed and deleted
    keeps its id-less documents in the next version, and no doc_id moves to another text."""
    rng = random.Random(11)
    docs = [document(rng) for _ in range(8)]
    ore = tmp_path / "ore"
    day1 = [{"id": f"a{i}", "body": docs[i]} for i in range(3)] + [{"body": docs[3]}, {"id": "", "body": docs[4]}]
    _posts(ore, day1)
    recipe_path = write_recipe(
        {
            "dataset": "daily",
            "output": "refined",
            "sources": [
                {"name": "posts", "format": "jsonl", "path": "ore/*.jsonl", "text_field": "body", "id_field": "id"}
            ],
            "clean": {"filters": {"min_words": 20}},
            "publish": {"mode": "append", "max_drop": None},
        }
    )
    catalog = Catalog(tmp_path / "refined")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    first = dict(catalog.version("daily").scan().select("doc_id", "text").collect().iter_rows())
    assert len(first) == 5

    _posts(ore, [{"id": None, "body": docs[5]}, {"id": " ", "body": docs[6]}, {"body": docs[7]}])  # day 1 consumed
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    second = dict(catalog.version("daily").scan().select("doc_id", "text").collect().iter_rows())
    assert sorted(second.values()) == sorted(docs)  # 8 documents: nothing lost
    assert first.items() <= second.items()  # nothing renamed


def test_drops_whose_ids_restart_are_all_published(write_recipe, tmp_path, dagster_home):
    """Native ids 0..n in every daily drop name different documents; the same text in two drops is one
    document and an exact duplicate."""
    rng = random.Random(12)
    docs = [document(rng) for _ in range(7)]
    drops = tmp_path / "ore" / "drops"
    _posts(drops / "2026-12-01", [{"id": i, "body": docs[i]} for i in range(4)])
    _posts(drops / "2026-12-02", [{"id": i, "body": t} for i, t in enumerate([*docs[4:7], docs[0]])])
    recipe_path = write_recipe(
        {
            "dataset": "restart",
            "output": "refined",
            "drops": "ore/drops/*",
            "sources": [
                {"name": "posts", "format": "jsonl", "path": "*.jsonl", "text_field": "body", "id_field": "id"}
            ],
            "clean": {"filters": {"min_words": 20}},
        }
    )
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    version = Catalog(tmp_path / "refined").version("restart")
    assert sorted(version.scan().collect().get_column("text")) == sorted(docs)
    (duplicate,) = version.removed().collect().iter_rows(named=True)
    assert duplicate["reason"] == "exact_duplicate" and duplicate["source_id"] == "3"
    more = [document(rng) for _ in range(2)]
    _posts(drops / "2026-12-03", [{"id": i, "body": t} for i, t in enumerate(more)])
    assert main(["run", "--recipe", str(recipe_path)]) == 0  # the earlier drops' staging was kept for it
    newest = Catalog(tmp_path / "refined").version("restart")
    latest = newest.scan().collect()
    assert newest.manifest["counts"]["read"] == 10 and set(docs) <= set(latest.get_column("text"))
    assert (
        dict(version.scan().select("doc_id", "text").collect().iter_rows()).items()
        <= dict(latest.select("doc_id", "text").iter_rows()).items()
    )
