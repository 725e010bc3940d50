"""CSV with a header row: Python's `csv` reads it and knows the line each record starts on. Counted apart by a
state machine over the bytes that follows the same quoting rule."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numba
import numpy as np
import polars as pl

from refinery.ingest.encoding import encoding_problem, file_encoding, open_bytes, open_text, undecodable
from refinery.ingest.formats.base import BATCH_RECORDS, Format, raw
from refinery.ingest.ranges import Span

if TYPE_CHECKING:  # the registry is what the recipe's source model reads: no import back
    from refinery.ingest.config import Source

csv.field_size_limit(1 << 30)


def _csv_field(row: list[str], index: dict[str, int], field: str | None) -> str | None:
    return row[index[field]] if field and field in index else None


def _csv_problem(row: list[str], header: list[str], text_field: str, path: Path, source: Source) -> tuple:
    """(reason, detail) of a parsed row, or (None, None) when it is usable."""
    if len(row) != len(header):
        return "unparseable", f"expected {len(header)} fields, found {len(row)}: {','.join(row)[:120]!r}"
    if text_field not in header:
        return "missing_text", f"header has no column {text_field!r} (columns: {header[:20]})"
    if any(undecodable(v) for v in row):
        return "bad_encoding", encoding_problem(path, source.encoding)
    return None, None


def read_csv(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    """The csv module streams records and knows the line each one starts on, which lineage needs."""
    text_field = source.html_field or source.text_field
    with open_text(path, source.encoding, newline="") as fh:
        reader = csv.reader(fh)
        header = next((row for row in reader if row), None)  # blank lines before it are no records either
        if header is None:
            return
        index = {name: i for i, name in reversed(list(enumerate(header)))}  # a repeated name: the first one
        wanted = {
            "text": text_field,
            "native_id": source.id_field,
            "title": source.title_field,
            "url": source.url_field,
        }
        cols: dict[str, list] = {k: [] for k in [*wanted, "line", "reason", "detail"]}
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
                if not row:  # a blank line is no record; a row of empty fields is
                    start = reader.line_num + 1
                    continue
                reason, detail = _csv_problem(row, header, text_field, path, source)
            except csv.Error as err:
                row, reason, detail = [], "unparseable", f"malformed CSV: {err}"
            except StopIteration:
                break
            for key, field in wanted.items():
                cols[key].append(_csv_field(row, index, field) if reason is None else None)
            cols["line"].append(start)
            cols["reason"].append(reason)
            cols["detail"].append(detail)
            start = reader.line_num + 1
            if len(cols["line"]) >= BATCH_RECORDS:
                yield raw(**cols)
                cols = {k: [] for k in cols}
        if cols["line"]:
            yield raw(**cols)


# The CSV rule, as Python's `csv` module (excel dialect, not strict) reads a file opened with newline="": a quote
# opens a quoted field only at the start of a field (so `12" monitor` is text); inside one, `""` is a quote and a
# lone quote closes it, anything after it joins the field; line ends inside quotes belong to the field; a line end
# is \n, \r\n or a lone \r; a line holding nothing is no record; an unclosed quote at the end of the file ends
# the last record. The first record is the header. Implemented here over bytes, apart from the reader.
_START_RECORD, _START_FIELD, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED, _EAT_CRLF = range(6)
_EOL = -1


@numba.njit(inline="always")
def _step(state: int, saved: bool, c: int) -> tuple[int, bool, bool]:
    """(state, whether this record has saved a field, whether a record ended) after byte `c` (or _EOL, the end
    of a line)."""
    if state == _START_RECORD:
        if c == _EOL:
            return _START_RECORD, False, False  # a blank line: no record
        if c == 10 or c == 13:
            return _EAT_CRLF, False, False
        state = _START_FIELD
    if state == _IN_QUOTED:
        return (_QUOTE_IN_QUOTED if c == 34 else _IN_QUOTED), saved, False
    if state == _EAT_CRLF:  # the rest of a line end
        return (_START_RECORD, False, saved) if c == _EOL else (_EAT_CRLF, saved, False)
    if c == _EOL:  # a field ends, and with it the record
        return _START_RECORD, False, True
    if c == 10 or c == 13:
        return _EAT_CRLF, True, False
    if c == 44:
        return _START_FIELD, True, False
    if state == _START_FIELD and c == 34:
        return _IN_QUOTED, saved, False
    if state == _QUOTE_IN_QUOTED and c == 34:
        return _IN_QUOTED, saved, False  # "" inside quotes
    return _IN_FIELD, saved, False


@numba.njit(nogil=True, cache=True)
def _csv_scan(buf: np.ndarray, state: int, saved: bool, last: bool) -> tuple[int, bool, int]:
    """Records ended in `buf` and the state after it. Its last byte is left for the next call (a \r needs the
    byte after it), unless `last`."""
    records = 0
    n = len(buf) if last else len(buf) - 1
    for i in range(n):
        c = buf[i]
        state, saved, ended = _step(state, saved, c)
        records += ended
        if c == 10 or (c == 13 and (i + 1 == len(buf) or buf[i + 1] != 10)):
            state, saved, ended = _step(state, saved, _EOL)
            records += ended
    if last and n and buf[n - 1] != 10 and buf[n - 1] != 13:  # the last line has no line end
        state, saved, ended = _step(state, saved, _EOL)
        records += ended
    return records, saved, state


def _csv_records(path: Path, source: Source) -> int:
    """Data records of a CSV file by the rule above (the header is not one). UTF-8 is read as bytes; other
    encodings are first written as UTF-8 (the bytes the rule looks at are ASCII, which UTF-8 keeps apart)."""
    encoding = file_encoding(path, source.encoding)
    if encoding in ("utf-8", "utf-8-sig"):
        with open_bytes(path) as fh:
            fh.read(3 if encoding == "utf-8-sig" else 0)
            return _csv_stream(fh)
    with tempfile.TemporaryFile() as utf8:
        with open_text(path, encoding, newline="") as fh:
            while chunk := fh.read(1 << 20):
                utf8.write(chunk.encode())
        utf8.seek(0)
        return _csv_stream(utf8)


def _csv_stream(fh: BinaryIO, chunk: int = 1 << 24) -> int:
    records, saved, state, held = 0, False, _START_RECORD, b""
    while True:
        block = fh.read(chunk)
        buf = np.frombuffer(held + block, dtype=np.uint8)
        found, saved, state = _csv_scan(buf, state, saved, not block)
        records += found
        if not block:
            break
        held = bytes(buf[-1:])
    if state != _START_RECORD:  # the file ends inside a quoted field: the last record ends with it
        records += 1
    return max(records - 1, 0)


def count_csv(path: Path, source: Source, span: Span | None = None) -> int:
    return _csv_records(path, source)


FORMAT = Format(read_csv, count_csv)
