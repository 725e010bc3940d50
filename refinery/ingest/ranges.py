"""A large JSONL file read in byte ranges, so that one big file is many shards rather than one.

Each range starts and ends at a line start, and the number of its first line is counted beforehand (the line
ends before it), so its records carry the same `line`, and so the same ids, as when the file is read whole.
Only UTF-8 files without a lone \\r are split: reading a file as text also ends a line at a lone \\r, and in
UTF-16 or UTF-32 a \\n byte need not be a line end. Other files are read whole.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO, TextIO

from refinery.ingest.encoding import compression, file_encoding, has_lone_cr


@dataclass(frozen=True)
class Span:
    """Bytes [start, end) of a file: whole lines, the first of them line `first_line`."""

    start: int
    end: int
    first_line: int


def spans(path: Path, declared: str | None, range_bytes: int) -> list[Span] | None:
    """The file's ranges of about `range_bytes`, or None when it is read whole (small, or not splittable)."""
    size = path.stat().st_size
    if (
        size <= range_bytes
        or compression(path)
        or file_encoding(path, declared) not in ("utf-8", "utf-8-sig")
        or has_lone_cr(path)
    ):
        return None
    starts = []
    with open(path, "rb") as fh:
        for cut in range(range_bytes, size, range_bytes):
            fh.seek(cut - 1)
            fh.readline()  # to the end of the line the cut falls in: the next range starts after it
            starts.append(fh.tell())
        bounds = sorted({0, *(s for s in starts if s < size), size})
        result, line = [], 1
        for start, end in pairwise(bounds):
            result.append(Span(start, end, line))
            line += _line_ends(fh, start, end)
    return result


def _line_ends(fh: BinaryIO, start: int, end: int, chunk: int = 1 << 22) -> int:
    fh.seek(start)
    count, left = 0, end - start
    while left > 0 and (block := fh.read(min(chunk, left))):
        count += block.count(b"\n")
        left -= len(block)
    return count


def open_span(path: Path, declared: str | None, span: Span) -> TextIO:
    """The range's lines as text, decoded as when the file is read whole (a byte-order mark only at 0)."""
    encoding = file_encoding(path, declared) if span.start == 0 else "utf-8"
    raw = open(path, "rb")  # noqa: SIM115  # closed with the text wrapper that owns it
    raw.seek(span.start)
    return io.TextIOWrapper(io.BufferedReader(_Slice(raw, span.end - span.start)), encoding, "surrogateescape")


class _Slice(io.RawIOBase):
    """The next `length` bytes of an open file, as a file of their own."""

    def __init__(self, raw: BinaryIO, length: int) -> None:
        self.raw, self.left = raw, length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(min(len(buffer), self.left))
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()
