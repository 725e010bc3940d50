"""Hostile input, generated (Hypothesis): ore files of every format and recipes that are wrong in every way.

Properties: every input record is refined or removed exactly once, by a count made without the readers; the
`refinery` command ends with exit 0, 1 (a run or check failed) or 2 (bad input) and a message, never a traceback.

More examples on demand: HYPOTHESIS_EXAMPLES=300 pytest refinery_tests/test_fuzz.py
"""

from __future__ import annotations

import codecs
import io
import json
import os
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refinery.clean import clean
from refinery.cli import main
from refinery.dedup import deduplicate
from refinery.identity import identify
from refinery.ingest import ingest_source
from refinery.ingest.count import count_records
from refinery.recipe import Clean, Dedup, Source, source_files
from refinery.validate.accounting import account

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

texts = st.text(st.characters(codec="utf-8"), max_size=80)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
jsonl_lines = st.one_of(
    st.builds(lambda t: json.dumps({"body": t}, ensure_ascii=False), texts),
    st.builds(lambda v: json.dumps({"body": v}, ensure_ascii=False), values),
    st.builds(lambda n: '{"body": ' + "[" * n + "]" * n + "}", st.integers(1000, 3000)),
    st.sampled_from(['{"body": NaN}', '{"body": "\\ud800"}', "{broken", "[1, 2]", "", "   ", '"just a string"']),
    st.builds(lambda b: b.decode("latin-1"), st.binary(max_size=40)),
)
csv_cells = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


@st.composite
def hostile_file(draw) -> tuple[str, bytes, dict]:
    """(format, bytes, extra source options)."""
    fmt = draw(st.sampled_from(["jsonl", "csv", "parquet", "text", "html"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    options: dict = {"coerce_text": draw(st.booleans())}
    if fmt == "jsonl":
        text = newline.join(draw(st.lists(jsonl_lines, max_size=12)))
    elif fmt == "csv":
        rows = draw(st.lists(st.lists(csv_cells, min_size=1, max_size=4), max_size=10))
        buffer = io.StringIO()
        import csv

        csv.writer(buffer, lineterminator=newline).writerows([["id", "body"], *rows])
        text = buffer.getvalue()
    elif fmt == "parquet":
        column = draw(
            st.sampled_from(
                [
                    pa.array(draw(st.lists(st.none() | texts, max_size=8)), pa.string()),
                    pa.array(draw(st.lists(st.none() | st.integers(-5, 5), max_size=8)), pa.int64()),
                    pa.array(draw(st.lists(st.none() | st.binary(max_size=10), max_size=8)), pa.binary()),
                    pa.array(draw(st.lists(st.lists(texts, max_size=2), max_size=8)), pa.list_(pa.string())),
                ]
            )
        )
        sink = io.BytesIO()
        pq.write_table(pa.table({"body": column}), sink)
        data = sink.getvalue()
        return fmt, draw(st.sampled_from([data, data[: len(data) // 2], b"", b"not parquet"])), options
    else:
        text = draw(texts) if fmt == "text" else f"<html><body><article><p>{draw(texts)}</p></article></body></html>"
    if encoding == "latin-1":
        data = text.encode("latin-1", errors="replace")
        if draw(st.booleans()):
            options["encoding"] = "latin-1"
    else:
        data = (codecs.BOM_UTF8 if encoding == "utf-8-sig" else b"") + text.encode(
            "utf-16" if encoding == "utf-16" else "utf-8", errors="surrogatepass"
        )
    return fmt, data, options


@FUZZ
@given(files=st.lists(hostile_file(), min_size=1, max_size=3))
def test_every_hostile_record_ends_in_exactly_one_place(files):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inputs, removed, expected = [], [], 0
        for i, (fmt, data, options) in enumerate(files):
            (base / f"f{i}.{fmt}").write_bytes(data)
            source = Source(name=f"s{i}", format=fmt, path=f"f{i}.{fmt}", text_field="body", **options)
            result = ingest_source(source, base, base / "ingested" / str(i), source_files(source, base))
            expected += sum(count_records(f, source) for f in result.files)
            inputs.append(result.records)
            removed.append(result.quarantine)
        dedup = deduplicate(identify(inputs, base / "identified"), base / "dedup", Dedup())
        cleaned = clean(dedup.kept, base / "clean", Clean())
        verdict = account(cleaned.cleaned, [*removed, dedup.removed, cleaned.removed], expected)
        assert verdict.passed, (verdict.problems(), files)
        reasons = pl.concat([pl.read_parquet(p).select("stage", "reason", "detail") for p in removed])
        assert reasons.get_column("detail").null_count() == 0  # every quarantined record says why


# every character that can end a line, space a line or confuse a parser: quotes, inch marks, backslash escapes,
# all of Unicode's whitespace and the C0/C1 controls, a byte-order mark and invalid UTF-8
SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]
CONTROLS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]
hand_written = st.lists(
    st.sampled_from(['"', "'", ",", "\\", '\\"', '12"', '""', "{", "}", ":", "a", "body", "\ufeff"])
    | st.sampled_from(SPACES + CONTROLS)
    | st.sampled_from(['{"body": "x"}', '{"body": "a\\"b"}', "id,body", '1,"q""uote"']),
    max_size=30,
)


@FUZZ
@given(
    fmt=st.sampled_from(["csv", "jsonl"]),
    pieces=hand_written,
    bom=st.booleans(),
    tail=st.sampled_from([b"", b"\xff\xfe", b"\n"]),
)
def test_the_counter_and_the_reader_agree_on_any_bytes(fmt, pieces, bom, tail):
    """The rule for what a record is, implemented twice (reader, counter), on bytes no writer would make: every
    record the counter finds is a refined row or a quarantine row of the reader, never a mismatch."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        header = "id,body\n" if fmt == "csv" else ""
        data = (codecs.BOM_UTF8 if bom else b"") + (header + "".join(pieces)).encode("utf-8", "surrogatepass") + tail
        (base / f"f.{fmt}").write_bytes(data)
        source = Source(name="s", format=fmt, path=f"f.{fmt}", text_field="body")
        result = ingest_source(source, base, base / "ingested", source_files(source, base))
        assert count_records(base / f"f.{fmt}", source) == result.rows + result.quarantined, data


recipe_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
recipe_keys = st.sampled_from(["dataset", "output", "sources", "dedup", "clean", "validate", "publish", "automation"])


@FUZZ
@given(
    data=st.one_of(
        st.dictionaries(recipe_keys, recipe_values, max_size=6),
        recipe_values,
        st.binary(max_size=200),
    )
)
def test_any_recipe_ends_with_a_message_not_a_traceback(data, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.yaml"
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(json.dumps(data, default=str))  # JSON is YAML
        code = main(["run", "--recipe", str(path)])
        out = capsys.readouterr()
        assert code == 2 and "error:" in out.out  # no such recipe can run: its sources have no files
        assert "Traceback" not in out.out + out.err
