"""How ore bytes become text: a byte-order mark decides (UTF-8/16/32), else the source's `encoding:`, else UTF-8.

Bytes that do not decode are never replaced silently by U+FFFD: they are kept as lone surrogates
(`surrogateescape`), and a record that holds any is quarantined as `bad_encoding`.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import TextIO

BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its mark starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
SURROGATE = re.compile("[\ud800-\udfff]")


def file_encoding(path: Path, declared: str | None) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return declared or "utf-8"


def open_text(path: Path, declared: str | None, newline: str | None = None) -> TextIO:
    """The file as text; `newline=None` reads \\n, \\r\\n and lone \\r as line ends."""
    return open(path, encoding=file_encoding(path, declared), errors="surrogateescape", newline=newline)


def has_lone_cr(path: Path) -> bool:
    """Whether the file ends a line with \\r alone (old Mac style): Polars reads no line end there, and text
    reading does."""
    with open(path, "rb") as fh:
        previous = b""
        while chunk := fh.read(1 << 20):
            window = previous + chunk
            if any(m.start() < len(window) - 1 for m in re.finditer(rb"\r(?!\n)", window)):
                return True
            previous = window[-1:]
        return previous == b"\r"


def undecodable(text: str) -> bool:
    return not text.isascii() and SURROGATE.search(text) is not None


def encoding_problem(path: Path, declared: str | None) -> str:
    return f"not valid {file_encoding(path, declared)}" + ("" if declared else " (set the source's `encoding:`)")
