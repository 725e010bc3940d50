"""Text and HTML ore: one file is one document (HTML's main content is extracted after reading)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from refinery.ingest.encoding import encoding_problem, open_text, undecodable
from refinery.ingest.formats.base import Format, raw
from refinery.ingest.ranges import Span

if TYPE_CHECKING:  # the registry is what the recipe's source model reads: no import back
    from refinery.ingest.config import Source


def read_document(path: Path, source: Source) -> Iterator[pl.DataFrame]:
    """`text` and `html` ore: one file is one document."""
    with open_text(path, source.encoding, newline="") as fh:
        text = fh.read()
    reason = detail = None
    if undecodable(text):
        text, reason, detail = None, "bad_encoding", encoding_problem(path, source.encoding)
    yield raw(text=[text], line=[None], reason=[reason], detail=[detail])


def count_document(path: Path, source: Source, span: Span | None = None) -> int:
    return 1


FORMAT = Format(read_document, count_document, grouped=True)
HTML = Format(read_document, count_document, html=True, grouped=True)
