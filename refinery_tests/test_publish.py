import polars as pl

from refinery.publish import stage
from refinery.publish.stage import _write_parts
from refinery.records import REMOVED_SCHEMA


def test_parts_are_streamed_and_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "PART_ROWS", 40)
    sources = []
    for i in range(3):
        path = tmp_path / f"in-{i}.parquet"
        pl.DataFrame({"doc_id": [f"{i}-{j}" for j in range(35)], "x": list(range(35))}).write_parquet(path)
        sources.append(path)
    parts = _write_parts(sources, tmp_path / "out")
    assert [pl.read_parquet(p).height for p in parts] == [40, 40, 25]
    assert pl.read_parquet(parts).get_column("doc_id").to_list() == [f"{i}-{j}" for i in range(3) for j in range(35)]


def test_empty_input_still_gives_a_part_with_the_schema(tmp_path):
    path = tmp_path / "none.parquet"
    pl.DataFrame(schema=REMOVED_SCHEMA).write_parquet(path)
    (part,) = _write_parts([path], tmp_path / "out", REMOVED_SCHEMA)
    assert pl.read_parquet(part).schema == pl.Schema(REMOVED_SCHEMA)
