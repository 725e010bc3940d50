"""A source of ore, as a recipe declares it (`sources:`): what its files are and how its records are read."""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import Field, field_validator

from refinery.config import Flag, Strict
from refinery.ingest.formats import FORMATS
from refinery.storage import is_uri

Format = Literal[tuple(FORMATS)]  # the registered formats (`refinery/ingest/formats/`)


class Extraction(Strict):
    """How the main content of a page is found. The default, `engine: blocks`, classifies the page's text blocks with
    models trained on WCXB's development split (`ingest/blocks.py`); on its held-out test split it finds more of
    the content and less boilerplate than trafilatura, several times as fast (`benchmarks/extract_bench.py`).
    `engine: trafilatura` favouring precision keeps boilerplate out but finds too little on forums, listings and
    service pages, so a page on which it finds less than `fallback_below` characters is extracted again in
    trafilatura's balanced mode and the longer text is kept. `engine: resiliparse` is the fastest and finds least."""

    engine: Literal["blocks", "trafilatura", "resiliparse"] = "blocks"
    favor: Literal["precision", "balanced", "recall"] = "precision"  # trafilatura's
    fallback_below: int = Field(2000, ge=0)  # trafilatura's, in characters; 0: no second extraction


class Source(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)
    format: Format
    path: str
    text_field: str = "text"
    id_field: str | None = None
    html_field: str | None = None  # records whose text is HTML: main content is extracted
    extraction: Extraction = Extraction()  # for HTML ore, WARC responses and `html_field` records
    title_field: str | None = None
    url_field: str | None = None
    license: str | None = None
    encoding: str | None = None  # for legacy files without a byte-order mark, e.g. latin-1 or cp1252
    coerce_text: Flag = False  # a number, boolean, list or object as text: its JSON form (else `not_text`)
    follow_symlinks: Flag = False  # ore files that are symlinks out of the ore roots are read (else refused)

    @field_validator("path")
    @classmethod
    def _local_as_path(cls, path: str) -> str:
        if path.lower().startswith("file:"):
            raise ValueError("a file: URI names local files; write the path itself, so that ore_roots apply")
        return path

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                codecs.lookup(name)
            except LookupError:
                raise ValueError(f"unknown encoding {name!r}") from None
        return name

    @property
    def remote(self) -> bool:
        """Whether the ore is objects named by a URI (`s3://bucket/*.jsonl`): no local folder or roots apply."""
        return is_uri(self.path)
