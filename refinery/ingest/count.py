"""How many records an ore file holds, counted without the reader that parses it.

The accounting check compares these counts with refined + removed, so a reader that loses or doubles a record is
caught. Each count uses another parser or the file's own metadata: lines with content for JSONL (no JSON parse),
a state machine over the bytes for CSV (the reader uses Python's `csv`), Parquet footers, one document per file for text
and HTML. A file that cannot be parsed at all counts as one record: the reader quarantines it as one. The ingest
shard counts the very bytes its reader read (for an object, the same copy: one download).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import BinaryIO

import numba
import numpy as np
import polars as pl
import pyarrow.parquet as pq
from pyarrow.lib import ArrowException

from refinery.ingest.config import Source
from refinery.ingest.encoding import BROKEN, file_encoding, open_bytes, open_text
from refinery.ingest.ranges import Span, open_span


def _jsonl_lines(path: Path, source: Source, span: Span | None) -> int:
    """Lines with content (of the range): a line of JSON whitespace alone is no record (nor for the reader)."""
    with open_span(path, source.encoding, span) if span else open_text(path, source.encoding) as fh:
        return sum(1 for line in fh if line.strip(" \t\r\n"))


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


def count_records(path: Path, source: Source, span: Span | None = None) -> int:
    """The records of a file (an object: of its copy on this node, the one the reader read), or of its range."""
    try:
        if source.format == "jsonl":
            return _jsonl_lines(path, source, span)
        if source.format == "csv":
            return _csv_records(path, source)
        if source.format == "parquet":
            return pq.ParquetFile(path).metadata.num_rows
    except pl.exceptions.NoDataError:
        return 0
    except (OSError, ValueError, pl.exceptions.PolarsError, ArrowException, *BROKEN):
        return 1
    return 1  # text and html: one file is one document
