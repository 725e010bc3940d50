"""How ore bytes become text: gzip, bzip2, xz and zstd files are decompressed (known by their first bytes, whatever
their name); then a byte-order mark decides (UTF-8/16/32), else the source's `encoding:`, else UTF-8.

Bytes that do not decode are never replaced silently by U+FFFD: they are kept as lone surrogates
(`surrogateescape`), and a record that holds any is quarantined as `bad_encoding`.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO, TextIO

import pyzstd

BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its mark starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
SURROGATE = re.compile("[\ud800-\udfff]")


COMPRESSED: dict[bytes, Callable[[Path], BinaryIO]] = {
    b"\x1f\x8b": partial(gzip.open, mode="rb"),
    b"BZh": partial(bz2.open, mode="rb"),
    b"\xfd7zXZ\x00": partial(lzma.open, mode="rb"),
    b"\x28\xb5\x2f\xfd": partial(pyzstd.ZstdFile, mode="rb"),
}


# a truncated or corrupt compressed file (gzip's own errors are OSErrors)
BROKEN = (EOFError, lzma.LZMAError, pyzstd.ZstdError)


def compression(path: Path) -> bytes | None:
    """The magic bytes of the file's compression, or None for a plain file (bzip2's are followed by a level and
    its block magic, so a text that starts with "BZh" stays text)."""
    with open(path, "rb") as fh:
        head = fh.read(10)
    magic = next((magic for magic in COMPRESSED if head.startswith(magic)), None)
    return None if magic == b"BZh" and head[4:10] != b"1AY&SY" else magic


def open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed."""
    magic = compression(path)
    return COMPRESSED[magic](path) if magic else open(path, "rb")


def file_encoding(path: Path, declared: str | None) -> str:
    with open_bytes(path) as fh:
        head = fh.read(4)
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return declared or "utf-8"


def open_text(path: Path, declared: str | None, newline: str | None = None) -> TextIO:
    """The file as text; `newline=None` reads \\n, \\r\\n and lone \\r as line ends."""
    encoding = file_encoding(path, declared)
    return io.TextIOWrapper(open_bytes(path), encoding=encoding, errors="surrogateescape", newline=newline)


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
