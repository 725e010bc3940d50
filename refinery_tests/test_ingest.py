import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinery.identity import identify
from refinery.ingest import ingest_source
from refinery.ingest.count import count_records
from refinery.recipe import Source, source_files
from refinery.runtime.engine import Engine
from refinery.runtime.tuning import Sizes
from refinery_tests.synth import document


def _ingest(tmp_path: Path, source: Source):
    """Records as the run names them: read, then identified over the run (`identify`)."""
    result = ingest_source(source, tmp_path, tmp_path / "out" / source.name, source_files(source, tmp_path))
    (records,) = identify([result.records], tmp_path / "out" / "identified")
    return result, pl.read_parquet(records), pl.read_parquet(result.quarantine)


def test_jsonl_quarantines_bad_lines_with_file_line_and_error(tmp_path):
    lines = [
        json.dumps({"id": 1, "body": "first post"}),
        "{broken",
        "",
        json.dumps({"id": 3}),
        json.dumps({"id": 4, "body": "  "}),
        json.dumps([1, 2]),
        json.dumps({"id": 6, "body": "last"}),
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.jsonl").write_bytes(b'{"id": 7, "body": "caf\xe9"}\n{"id": 8, "body": "ok"}\n')
    source = Source(name="f", format="jsonl", path="*.jsonl", text_field="body", id_field="id")
    result, good, bad = _ingest(tmp_path, source)
    assert good.get_column("text").to_list() == ["first post", "last", "ok"]
    assert good.get_column("source_id").to_list() == ["1", "6", "8"]
    assert good.get_column("line").to_list() == [1, 7, 2]
    by_line = {(r["source_uri"], r["line"]): r for r in bad.to_dicts()}
    assert by_line[("a.jsonl", 2)]["reason"] == "unparseable" and "invalid JSON" in by_line[("a.jsonl", 2)]["detail"]
    assert by_line[("a.jsonl", 4)]["reason"] == "missing_text"
    assert by_line[("a.jsonl", 5)]["reason"] == "empty_text"
    assert by_line[("a.jsonl", 6)]["reason"] == "unparseable"
    assert by_line[("b.jsonl", 1)]["reason"] == "bad_encoding"
    assert set(bad.get_column("stage")) == {"ingest"}
    assert result.rows + result.quarantined == 8  # the blank line is not a record


def test_doc_ids_are_stable_and_unique(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"t": "same"}\n{"t": "same"}\n')
    source = Source(name="f", format="jsonl", path="a.jsonl", text_field="t")
    _, first, _ = _ingest(tmp_path, source)
    _, second, _ = _ingest(tmp_path, source)
    assert first.get_column("doc_id").to_list() == second.get_column("doc_id").to_list()
    assert first.get_column("doc_id").n_unique() == 2
    assert first.get_column("source_id").to_list() == ["a.jsonl:1", "a.jsonl:2"]


def test_csv_reports_ragged_rows_with_their_line(tmp_path):
    (tmp_path / "e.csv").write_text('id,body\n1,"multi\nline post"\n2,too,many\n3,fine\n')
    source = Source(name="c", format="csv", path="e.csv", text_field="body", id_field="id")
    _, good, bad = _ingest(tmp_path, source)
    assert good.select("source_id", "text", "line").rows() == [("1", "multi\nline post", 2), ("3", "fine", 5)]
    assert bad.select("line", "reason").rows() == [(4, "unparseable")]
    assert "expected 2 fields, found 3" in bad.get_column("detail")[0]


def test_csv_without_the_text_column_quarantines_each_record_naming_the_column(tmp_path):
    (tmp_path / "e.csv").write_text("id,content\n1,x\n2,y\n")
    _, good, bad = _ingest(tmp_path, Source(name="c", format="csv", path="e.csv", text_field="body"))
    assert good.height == 0 and bad.get_column("reason").to_list() == ["missing_text"] * 2
    assert "header has no column 'body'" in bad.get_column("detail")[0]


def _write_jsonl_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


# the hostile cases that once crashed the run or passed silently: (file name, bytes, source options, outcome)
HOSTILE = [
    ("deep.jsonl", ('{"body": ' + "[" * 5000 + "]" * 5000 + "}\n").encode(), {}, [("too_deep", None)]),
    (
        "number.jsonl",
        b'{"body": 12}\n{"body": true}\n{"body": [1]}\n{"body": {"a": 1}}\n',
        {},
        [("not_text", None)] * 4,
    ),
    ("coerced.jsonl", b'{"body": 12}\n{"body": [1, "a"]}\n', {"coerce_text": True}, [(None, "12"), (None, '[1, "a"]')]),
    ("nan.jsonl", b'{"body": NaN}\n', {}, [("invalid_number", None)]),
    ("surrogate.jsonl", b'{"body": "a \\ud800 b"}\n', {}, [("bad_encoding", None)]),
    ("bom8.jsonl", b'\xef\xbb\xbf{"body": "first"}\n{"body": "second"}\n', {}, [(None, "first"), (None, "second")]),
    (
        "utf16.jsonl",
        '{"body": "caf\u00e9"}\n{"body": "two"}\n'.encode("utf-16"),
        {},
        [(None, "caf\u00e9"), (None, "two")],
    ),
    ("cr.jsonl", b'{"body": "a"}\r{"body": "b"}\r', {}, [(None, "a"), (None, "b")]),
    ("latin1.jsonl", '{"body": "caf\u00e9"}\n'.encode("latin-1"), {}, [("bad_encoding", None)]),
    ("declared.jsonl", '{"body": "caf\u00e9"}\n'.encode("latin-1"), {"encoding": "latin-1"}, [(None, "caf\u00e9")]),
    ("bom.csv", b"\xef\xbb\xbfid,body\n1,hello\n", {"id_field": "id", "format": "csv"}, [(None, "hello")]),
    ("latin1.csv", "id,body\n1,caf\u00e9\n".encode("latin-1"), {"format": "csv"}, [("bad_encoding", None)]),
    ("empty-row.csv", b"id,body\n,\n", {"format": "csv"}, [("empty_text", None)]),
    ("empty.parquet", b"", {"format": "parquet"}, [("unreadable_file", None)]),
    ("not.parquet", b"PAR1 this is not parquet", {"format": "parquet"}, [("unreadable_file", None)]),
]


@pytest.mark.parametrize(("name", "data", "options", "outcome"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_records_stay_per_record(tmp_path, name, data, options, outcome):
    from refinery.ingest.count import count_records

    (tmp_path / name).write_bytes(data)
    source = Source(name="s", format=options.pop("format", "jsonl"), path=name, text_field="body", **options)
    result, good, bad = _ingest(tmp_path, source)
    rows = sorted(
        [(None, t, line) for t, line in good.select("text", "line").iter_rows()]
        + [(r, None, line) for r, line in bad.select("reason", "line").iter_rows()],
        key=lambda r: r[2] or 0,
    )
    assert [(r, t) for r, t, _ in rows] == outcome
    assert bad.get_column("detail").null_count() == 0 and (bad.get_column("source_uri") == name).all()
    assert count_records(tmp_path / name, source) == result.rows + result.quarantined  # accounting agrees


def test_field_names_with_quotes_and_backslashes(tmp_path):
    lines = [{"it's": "apostrophe", 'q"x': "quote", "b\\s": "backslash"}]
    (tmp_path / "q.jsonl").write_text(json.dumps(lines[0]) + "\n")
    for field, text in [("it's", "apostrophe"), ('q"x', "quote"), ("b\\s", "backslash")]:
        _, good, _ = _ingest(tmp_path, Source(name="s", format="jsonl", path="q.jsonl", text_field=field))
        assert good.get_column("text").to_list() == [text], field


def test_parquet_text_columns_of_other_types(tmp_path):
    pl.DataFrame({"body": [[1, 2], None], "blob": [b"ok", b"\xff"]}).write_parquet(tmp_path / "l.parquet")
    _, good, bad = _ingest(tmp_path, Source(name="s", format="parquet", path="l.parquet", text_field="body"))
    assert good.height == 0 and bad.get_column("reason").to_list() == ["not_text", "missing_text"]
    _, good, bad = _ingest(tmp_path, Source(name="s", format="parquet", path="l.parquet", text_field="blob"))
    assert good.get_column("text").to_list() == ["ok"] and bad.get_column("reason").to_list() == ["bad_encoding"]


def test_parquet_and_text_sources(tmp_path):
    pl.DataFrame({"content": ["one", None, "three"], "key": [10, 11, 12]}).write_parquet(tmp_path / "p.parquet")
    _, good, bad = _ingest(
        tmp_path, Source(name="p", format="parquet", path="p.parquet", text_field="content", id_field="key")
    )
    assert good.select("source_id", "text").rows() == [("10", "one"), ("12", "three")]
    assert bad.select("line", "reason").rows() == [(2, "missing_text")]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("A whole document.\nWith two lines.")
    _, good, _ = _ingest(tmp_path, Source(name="t", format="text", path="docs/*.txt"))
    assert good.select("source_id", "text").rows() == [("docs/a.txt", "A whole document.\nWith two lines.")]


def test_html_extracts_main_content_title_and_url(tmp_path):
    story = " ".join(["The harbour committee approved the new ferry timetable after a long public debate."] * 4)
    (tmp_path / "page.html").write_text(
        "<html><head><title>Ferry news</title><link rel='canonical' href='https://example.org/ferry'></head><body>"
        "<nav>Home | Sports | Weather</nav><article><h1>Ferry news</h1><p>" + story + "</p></article>"
        "<footer>Copyright 2026 Example</footer></body></html>"
    )
    (tmp_path / "blank.html").write_text("<html><body></body></html>")
    _, good, bad = _ingest(tmp_path, Source(name="h", format="html", path="*.html"))
    row = good.row(0, named=True)
    assert "ferry timetable" in row["text"] and "Copyright" not in row["text"] and "Sports" not in row["text"]
    assert (row["title"], row["url"]) == ("Ferry news", "https://example.org/ferry")
    assert bad.select("source_uri", "reason").rows() == [("blank.html", "no_content")]


@pytest.mark.parametrize("engine", ["blocks", "trafilatura", "resiliparse"])
def test_an_xhtml_page_with_an_xml_declaration_is_extracted(tmp_path, engine):
    """lxml refuses a decoded string that declares its encoding: the page was once `extraction_failed`."""
    story = " ".join(["The harbour committee approved the new ferry timetable after a long public debate."] * 4)
    (tmp_path / "page.xhtml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Ferry</title>'
        f"</head><body><article><p>{story}</p></article></body></html>"
    )
    source = Source(name="h", format="html", path="*.xhtml", extraction={"engine": engine})
    _, good, bad = _ingest(tmp_path, source)
    assert bad.is_empty()
    assert "ferry timetable" in good.get_column("text")[0]


def test_html_field_of_jsonl_records(tmp_path):
    html = "<html><body><article><p>" + "Main text of the record goes here and it is long enough. " * 5
    (tmp_path / "r.jsonl").write_text(json.dumps({"html": html + "</p></article></body></html>"}) + "\n")
    _, good, _ = _ingest(tmp_path, Source(name="r", format="jsonl", path="r.jsonl", html_field="html"))
    assert good.get_column("text")[0].startswith("Main text of the record")
    assert "<p>" not in good.get_column("text")[0]


def _ids_by_text(tmp_path: Path, source: Source) -> dict[str, str]:
    _, good, _ = _ingest(tmp_path, source)
    return dict(zip(good.get_column("text"), good.get_column("doc_id"), strict=True))


def test_identity_survives_inserted_lines_renames_splits_and_reordering(tmp_path):
    """The reported failure: ids hashed the line number, so one post inserted at the top renamed every post."""
    posts = [json.dumps({"body": f"post number {i}"}) for i in range(6)]
    ore = tmp_path / "ore"
    ore.mkdir()
    (ore / "a.jsonl").write_text("\n".join(posts) + "\n")
    source = Source(name="f", format="jsonl", path="ore/*.jsonl", text_field="body")
    before = _ids_by_text(tmp_path, source)

    (ore / "a.jsonl").write_text("\n".join([json.dumps({"body": "a new first post"}), *posts]) + "\n")
    inserted = _ids_by_text(tmp_path, source)
    assert {t: inserted[t] for t in before} == before and len(inserted) == 7

    (ore / "a.jsonl").unlink()
    (ore / "z-part2.jsonl").write_text("\n".join(reversed(posts[:3])) + "\n")  # renamed, split, reordered
    (ore / "b-part1.jsonl").write_text("\n".join(posts[3:]) + "\n")
    assert _ids_by_text(tmp_path, source) == before


def test_native_ids_are_identity_and_repeats_get_distinct_stable_ids(tmp_path):
    lines = [{"id": "p1", "body": "first"}, {"id": "p2", "body": "same"}, {"id": "p3", "body": "same"}]
    (tmp_path / "n.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    native = Source(name="f", format="jsonl", path="n.jsonl", text_field="body", id_field="id")
    _, good, _ = _ingest(tmp_path, native)
    edited = [{"id": "p1", "body": "first, edited"}, *lines[1:]]
    (tmp_path / "n.jsonl").write_text("\n".join(json.dumps(r) for r in edited) + "\n")
    _, again, _ = _ingest(tmp_path, native)
    assert good.get_column("doc_id").to_list() == again.get_column("doc_id").to_list()  # the id names the post

    by_text = Source(name="f", format="jsonl", path="n.jsonl", text_field="body")
    _, first, _ = _ingest(tmp_path, by_text)
    (tmp_path / "n.jsonl").write_text("\n".join(json.dumps(r) for r in reversed(edited)) + "\n")
    _, second, _ = _ingest(tmp_path, by_text)
    assert first.get_column("doc_id").n_unique() == 3
    assert sorted(first.get_column("doc_id")) == sorted(second.get_column("doc_id"))


def test_independent_counts_agree_with_the_readers(tmp_path):
    from refinery.ingest.count import count_records

    (tmp_path / "a.jsonl").write_bytes(b'{"t": "x"}\n\n{broken\n  \n\xff\xfe\n{"t": "y"}')
    (tmp_path / "e.csv").write_text('id,t\n1,"multi\nline"\n\n2,too,many\n,\n3,ok\n')
    pl.DataFrame({"t": ["a", None, "c"]}).write_parquet(tmp_path / "p.parquet")
    for name, fmt in [("a.jsonl", "jsonl"), ("e.csv", "csv"), ("p.parquet", "parquet")]:
        source = Source(name="s", format=fmt, path=name, text_field="t")
        result, _, _ = _ingest(tmp_path, source)
        assert count_records(tmp_path / name, source) == result.rows + result.quarantined, name


def test_files_read_on_several_processes_give_the_same_bytes(tmp_path, monkeypatch):

    ore = tmp_path / "ore"
    ore.mkdir()
    for f in range(4):  # repeats across files too: their occurrence numbers follow the file order
        lines = [json.dumps({"body": f"post {i % 7} of a forum"}) for i in range(20)] + ["{broken"]
        (ore / f"part-{f}.jsonl").write_text("\n".join(lines) + "\n")
    source = Source(name="f", format="jsonl", path="ore/*.jsonl", text_field="body")
    sharded = Sizes(sharded_bytes=1)  # small ore, still sharded
    one = ingest_source(source, tmp_path, tmp_path / "one", source_files(source, tmp_path), engine=Engine(1, sharded))
    two = ingest_source(source, tmp_path, tmp_path / "two", source_files(source, tmp_path), engine=Engine(2, sharded))
    assert one.records.read_bytes() == two.records.read_bytes()
    assert one.quarantine.read_bytes() == two.quarantine.read_bytes()
    assert (one.rows, one.quarantined) == (two.rows, two.quarantined) == (80, 4)
    assert not (tmp_path / "two" / "parts").exists()


def test_html_files_read_in_groups_give_the_same_bytes_and_name_every_file(tmp_path):
    """One-page files are read a group at a time (a shard each, its pages extracted in one call): groups of one,
    two or all files give the same records, quarantine and ore entries."""
    story = "The harbour committee approved the new ferry timetable after a long public debate. " * 4
    ore = tmp_path / "ore"
    ore.mkdir()
    for i in range(5):
        body = f"<article><h1>Ferry news {i}</h1><p>{story}</p></article>" if i != 2 else ""
        (ore / f"p{i}.html").write_text(f"<html><body>{body}</body></html>")
    source = Source(name="h", format="html", path="ore/*.html")
    results = [
        ingest_source(source, tmp_path, tmp_path / f"g{n}", source_files(source, tmp_path), Engine(2, sizes))
        for n, sizes in enumerate(
            [Sizes(sharded_bytes=1, group_files=1), Sizes(sharded_bytes=1, group_files=2), Sizes()]
        )
    ]
    first = results[0]
    assert (first.rows, first.quarantined, first.counted) == (4, 1, 5)
    assert [o["path"] for o in first.ore] == [f"ore/p{i}.html" for i in range(5)]
    for other in results[1:]:
        assert other.records.read_bytes() == first.records.read_bytes()
        assert other.quarantine.read_bytes() == first.quarantine.read_bytes()
        assert other.ore == first.ore


_LINE = st.one_of(
    st.text(max_size=30).map(lambda t: json.dumps({"body": t, "n": 1})),  # non-ASCII, escapes, empty text
    st.sampled_from(["{broken", "", "   ", '{"other": 1}', '{"body": 7}', json.dumps({"body": "same text"})]),
    st.text(alphabet="ab\u00e9\u4e2d\U0001f600", max_size=8).map(lambda t: json.dumps({"body": t}, ensure_ascii=False)),
)


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "40")), deadline=None)
@given(
    lines=st.lists(_LINE, max_size=40),
    crlf=st.booleans(),
    bom=st.booleans(),
    final_newline=st.booleans(),
    range_bytes=st.integers(1, 120),
)
def test_byte_ranges_of_a_jsonl_file_give_the_bytes_of_reading_it_whole(
    tmp_path_factory, lines, crlf, bom, final_newline, range_bytes
):
    from refinery.ingest import ranges

    folder = tmp_path_factory.mktemp("ranges")
    end = "\r\n" if crlf else "\n"
    body = end.join(lines) + (end if final_newline else "")
    (folder / "a.jsonl").write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode())
    source = Source(name="s", format="jsonl", path="a.jsonl", text_field="body")
    whole = ingest_source(source, folder, folder / "whole", source_files(source, folder))
    split = ranges.spans(folder / "a.jsonl", None, range_bytes)
    ranged = ingest_source(  # small: in this process
        source, folder, folder / "ranged", source_files(source, folder), Engine(2, Sizes(range_bytes=range_bytes))
    )
    assert split is None or (split[0].start == 0 and split[-1].end == (folder / "a.jsonl").stat().st_size)
    assert ranged.records.read_bytes() == whole.records.read_bytes()
    assert ranged.quarantine.read_bytes() == whole.quarantine.read_bytes()


def test_a_large_jsonl_file_is_read_in_ranges_on_several_processes(tmp_path, monkeypatch):
    from refinery.ingest import ranges

    lines = [json.dumps({"body": f"post {i % 50} of a forum, caf\u00e9"}) for i in range(400)] + ["{broken"]
    (tmp_path / "big.jsonl").write_text("\r\n".join(lines) + "\r\n")
    (tmp_path / "old-mac.jsonl").write_text("\r".join(lines[:20]))  # a lone \r ends a line: read whole
    source = Source(name="f", format="jsonl", path="*.jsonl", text_field="body")
    whole = ingest_source(source, tmp_path, tmp_path / "whole", source_files(source, tmp_path), engine=Engine(1))
    assert len(ranges.spans(tmp_path / "big.jsonl", None, 1000)) > 10
    assert ranges.spans(tmp_path / "old-mac.jsonl", None, 1000) is None
    engine = Engine(2, Sizes(range_bytes=1000, sharded_bytes=1))
    ranged = ingest_source(source, tmp_path, tmp_path / "ranged", source_files(source, tmp_path), engine=engine)
    assert ranged.records.read_bytes() == whole.records.read_bytes()
    assert ranged.quarantine.read_bytes() == whole.quarantine.read_bytes()
    assert engine.tasks["local"] == len(ranges.spans(tmp_path / "big.jsonl", None, 1000)) + 1
    assert pl.read_parquet(ranged.quarantine).get_column("line").to_list() == [401]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("inch.csv", 'id,body\nt199,fine\nt200,My 12" monitor\nt201,also fine\n'),
        ("open.csv", 'id,body\n1,fine\n2,"never closed\n3,swallowed by it\n'),
        ("escaped.csv", 'id,body\n1,"a \\"quoted\\" word"\n2,fine\n'),
        ("lone.csv", 'id,body\n1,"\n'),
        ("blank-first.csv", "\n\nid,body\n1,fine\n"),
        ("separator.jsonl", '{"body": "x"}\n\x1c\n\x1f\n\u00a0\n{"body": "y"}\n'),
    ],
)
def test_records_a_spreadsheet_or_a_hand_writes_are_counted_as_the_reader_reads_them(tmp_path, name, data):
    from refinery.ingest.count import count_records

    (tmp_path / name).write_text(data)
    source = Source(name="s", format=name.rsplit(".", 1)[1], path=name, text_field="body")
    result, _, _ = _ingest(tmp_path, source)
    assert count_records(tmp_path / name, source) == result.rows + result.quarantined


def test_an_unreadable_file_is_one_quarantined_record_and_the_rest_is_read(tmp_path):
    """`chmod 000`: root reads anything, so the test reads as another user (its effective uid, for this call)."""
    import tempfile

    from refinery.ingest.count import count_records

    base = Path(tempfile.mkdtemp())
    os.chmod(base, 0o777)
    (base / "a.jsonl").write_text('{"t": "readable"}\n')
    (base / "b.jsonl").write_text('{"t": "locked"}\n')
    os.chmod(base / "b.jsonl", 0)
    source = Source(name="s", format="jsonl", path="*.jsonl", text_field="t")
    warm = Source(name="s", format="jsonl", path="a.jsonl", text_field="t")
    ingest_source(warm, base, base / "warm", source_files(warm, base))  # imports
    as_root = os.geteuid() == 0
    if as_root:
        os.seteuid(65534)
    try:
        result = ingest_source(source, base, base / "out", source_files(source, base))
        counted = sum(count_records(f, source) for f in result.files)
    finally:
        if as_root:
            os.seteuid(0)
    bad = pl.read_parquet(result.quarantine)
    shutil.rmtree(base)
    assert (result.rows, bad.get_column("reason").to_list()) == (1, ["unreadable_file"])
    assert "PermissionError" in bad.get_column("detail")[0] and bad.get_column("source_uri")[0] == "b.jsonl"
    assert counted == result.rows + result.quarantined
    assert [o["path"] for o in result.ore] == ["a.jsonl"]  # no bytes of b.jsonl were refined


def test_compressed_ore_is_read_whatever_its_name(tmp_path):
    """gzip, bzip2, xz and zstd files are decompressed, known by their first bytes: never read as garbage
    lines; the counter reads them its own way."""
    import bz2
    import gzip
    import lzma

    import pyzstd

    from refinery.ingest.count import count_records

    lines = "".join(json.dumps({"t": f"post number {i}"}) + "\n" for i in range(600))
    table = "id,t\n" + "".join(f'{i},"row, {i}"\n' for i in range(50))
    for name, data in [
        ("a.jsonl.gz", gzip.compress(lines.encode())),
        ("b.jsonl.bz2", bz2.compress(lines.encode())),
        ("c.jsonl", lzma.compress(lines.encode())),  # the name says nothing
        ("d.csv.gz", gzip.compress(table.encode())),
        ("f.jsonl.zst", pyzstd.compress(lines.encode())),
    ]:
        (tmp_path / name).write_bytes(data)
        source = Source(name="s", format="csv" if ".csv" in name else "jsonl", path=name, text_field="t")
        result, good, _ = _ingest(tmp_path, source)
        expected = 50 if ".csv" in name else 600
        assert (result.rows, result.quarantined, count_records(tmp_path / name, source)) == (expected, 0, expected)
        assert good.get_column("text")[1] in ("post number 1", "row, 1")
    for name, cut in [("e.jsonl.gz", gzip.compress), ("g.jsonl.zst", pyzstd.compress)]:
        (tmp_path / name).write_bytes(cut(lines.encode())[:200])  # cut short: quarantined, named
        result, _, bad = _ingest(tmp_path, Source(name="s", format="jsonl", path=name, text_field="t"))
        assert bad.get_column("reason").to_list()[-1] == "unreadable_file", name


def test_categorical_text_columns_are_read(tmp_path):
    frame = pl.DataFrame({"t": ["first post", "second post", "first post"]}, schema={"t": pl.Categorical})
    frame.write_parquet(tmp_path / "c.parquet")
    result, good, _ = _ingest(tmp_path, Source(name="s", format="parquet", path="c.parquet", text_field="t"))
    assert result.rows == 3 and good.get_column("text").to_list() == ["first post", "second post", "first post"]


def test_a_writer_stopped_by_an_error_leaves_no_file(tmp_path):
    """A truncated but valid Parquet file would hide the rows that never came."""
    from refinery.records import INGESTED_SCHEMA, ROW_GROUP_ROWS, RowGroupWriter
    from refinery_tests.conftest import ingested_frame

    path = tmp_path / "part.parquet"
    with pytest.raises(RuntimeError), RowGroupWriter(path, INGESTED_SCHEMA) as out:
        out.write(ingested_frame(["a text"] * (ROW_GROUP_ROWS + 5)))  # a full row group is already on disk
        raise RuntimeError("the reader failed half-way")
    assert not path.exists()


def test_extraction_errors_are_counted_and_a_broken_extractor_stops_the_source(tmp_path, monkeypatch):
    """An exception inside the extractor was once a silent `no_content`: a changed library API would have
    quarantined every page with accounting green."""
    from refinery.errors import IngestError
    from refinery.ingest import blocks

    story = "The harbour committee approved the new ferry timetable after a long public debate. " * 4
    for i in range(12):
        (tmp_path / f"p{i:02d}.html").write_text(
            f"<html><body><article><h1>Page {i} says a lot.</h1><p>{story}</p></article></body></html>"
        )
    source = Source(name="web", format="html", path="*.html")
    real = blocks.segment
    broken = {"p03.html"}

    def flaky(html: str, page: int, into: blocks.Segmented):
        if any(f"Page {name[1:3].lstrip('0') or '0'} " in html for name in broken):
            raise TypeError("fromstring() got an unexpected keyword argument 'parser'")
        return real(html, page, into)

    monkeypatch.setattr(blocks, "segment", flaky)
    _, _, bad = _ingest(tmp_path, source)
    assert bad.select("source_uri", "reason").rows() == [("p03.html", "extraction_failed")]
    assert "TypeError: fromstring() got an unexpected keyword" in bad.get_column("detail")[0]
    broken = {f"p{i:02d}.html" for i in range(12)}  # every page: the library, not the pages
    with pytest.raises(IngestError, match="HTML extraction raised on 12 of 12 pages"):
        _ingest(tmp_path, source)


def test_a_record_without_an_id_inserted_on_top_renames_nothing(tmp_path):
    """Records whose id is missing, null or blank are named by their text, not numbered among each other: one more
    on top of the file once moved four ids of 52 to other texts."""
    records = [{"id": f"p{i}", "body": f"post {i}"} for i in range(6)]
    records += [{"body": "no id here"}, {"id": None, "body": "a null id"}, {"id": " ", "body": "a blank id"}]
    source = Source(name="s", format="jsonl", path="n.jsonl", text_field="body", id_field="id")
    (tmp_path / "n.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    _, before, _ = _ingest(tmp_path, source)
    (tmp_path / "n.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [{"body": "a new post"}, *records]))
    _, after, _ = _ingest(tmp_path, source)
    named = dict(before.select("doc_id", "text").iter_rows())
    assert named.items() <= dict(after.select("doc_id", "text").iter_rows()).items()
    assert before.filter(pl.col("text") == "a blank id").get_column("source_id").item() == "n.jsonl:9"


def _warc_record(kind: str, number: int, body: bytes, uri: str = "") -> bytes:
    extra = f"Content-Type: application/http; msgtype={kind}\r\n" if kind in ("request", "response") else ""
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{number:08d}>\r\nWARC-Target-URI: {uri}\r\n"
        f"WARC-Date: 2025-01-01T00:00:00Z\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body + b"\r\n\r\n"


def _http(content_type: str, body: bytes) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize("packed", ["plain", "gzip", "zstd"])
def test_warc_and_wet_records_are_pages_with_url_and_id_counted_by_their_framing(tmp_path, rng, packed):
    """A WARC's responses are pages (HTML extracted, other types quarantined), a WET's conversions their text;
    requests, metadata and warcinfo records are not records; the framing counter agrees with the reader."""
    import gzip

    import pyzstd

    pages = [document(rng, 8) for _ in range(3)]
    menu = "<nav><ul><li><a href='/'>Home</a></li><li><a href='/about'>About</a></li></ul></nav>"
    html = [f"<html><body>{menu}<article><p>{p}</p></article></body></html>" for p in pages]
    warc = [
        _warc_record("warcinfo", 0, b"software: test\r\n"),
        *(
            record
            for i, page in enumerate(html)
            for record in (
                _warc_record("request", 10 + i, b"GET / HTTP/1.1\r\n\r\n", f"https://site.example/{i}"),
                _warc_record(
                    "response", 20 + i, _http("text/html; charset=utf-8", page.encode()), f"https://site.example/{i}"
                ),
            )
        ),
        _warc_record(
            "response", 30, _http("image/png", b"\x89PNG\r\n\x1a\n WARC/1.0 inside"), "https://site.example/a.png"
        ),
        _warc_record("metadata", 40, b"fetchTimeMs: 12\r\n"),
    ]
    wet = [
        _warc_record("warcinfo", 0, b"x"),
        *(_warc_record("conversion", 50 + i, p.encode(), f"https://t.example/{i}") for i, p in enumerate(pages)),
    ]
    pack = {"plain": lambda rs: b"".join(rs), "gzip": lambda rs: b"".join(map(gzip.compress, rs))}
    pack["zstd"] = lambda rs: pyzstd.compress(b"".join(rs))
    suffix = {"plain": "", "gzip": ".gz", "zstd": ".zst"}[packed]
    (tmp_path / f"crawl.warc{suffix}").write_bytes(pack[packed](warc))
    (tmp_path / f"crawl.warc.wet{suffix}").write_bytes(pack[packed](wet))
    (tmp_path / "junk.warc").write_bytes(b"not an archive at all\n")
    for fmt, name, expected in [
        ("warc", f"crawl.warc{suffix}", 4),
        ("wet", f"crawl.warc.wet{suffix}", 3),
        ("warc", "junk.warc", 1),
    ]:
        source = Source(name=fmt, format=fmt, path=name)
        result = ingest_source(source, tmp_path, tmp_path / "out" / name, source_files(source, tmp_path))
        assert count_records(tmp_path / name, source) == result.rows + result.quarantined == expected, name
        records = pl.read_parquet(result.records)
        quarantine = pl.read_parquet(result.quarantine)
        if name == "junk.warc":
            assert quarantine.get_column("reason").to_list() == ["unreadable_file"]
            continue
        words = [" ".join(t.split()) for t in records.get_column("text")]
        assert words == [" ".join(p.split()) for p in pages]  # the article, not the navigation
        assert records.get_column("url").to_list() == [
            f"https://{'site' if fmt == 'warc' else 't'}.example/{i}" for i in range(3)
        ]
        assert records.get_column("line").to_list() == [1, 2, 3]  # the record's number among the file's pages
        first_id = 20 if fmt == "warc" else 50
        assert records.get_column("source_id").to_list() == [f"<urn:uuid:{first_id + i:08d}>" for i in range(3)]
        if fmt == "warc":
            assert quarantine.select("reason", "line").rows() == [("not_text", 4)]


def test_a_warc_is_read_in_batches_bounded_by_bytes(tmp_path, monkeypatch):
    """Batches were 50,000 records whatever their size: 50,000 pages of 85 kB of HTML (WCXB's mean) held 4 GB at
    once, before extraction."""
    from refinery.ingest.formats import warc

    pages = [f"<html><body><p>{f'Page {i} says a great deal. ' * 40}</p></body></html>" for i in range(6)]
    (tmp_path / "crawl.warc").write_bytes(
        b"".join(
            _warc_record("response", i, _http("text/html; charset=utf-8", p.encode()), f"https://s.example/{i}")
            for i, p in enumerate(pages)
        )
    )
    monkeypatch.setattr(warc, "BATCH_BYTES", 2 * len(pages[0]))
    batches = list(warc.read_warc(tmp_path / "crawl.warc", Source(name="w", format="warc", path="crawl.warc")))
    assert [b.height for b in batches] == [2, 2, 2]
    assert [t for b in batches for t in b.get_column("text")] == pages
