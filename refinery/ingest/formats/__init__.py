"""The ore formats: one module per format, holding its reader and, beside it, a counter of the same records that
does not use the reader. A format is one entry here (its name, as `format:` in a recipe, and its module); the
recipe's choices are these names (`module:FORMAT` by default). Modules load when first used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refinery.ingest.formats.base import Format

FORMATS = {
    "jsonl": "refinery.ingest.formats.jsonl",
    "csv": "refinery.ingest.formats.csv",
    "parquet": "refinery.ingest.formats.parquet",
    "text": "refinery.ingest.formats.document",
    "html": "refinery.ingest.formats.document:HTML",
    "warc": "refinery.ingest.formats.warc:WARC",
    "wet": "refinery.ingest.formats.warc:WET",
}


FIELDED = {"jsonl", "csv", "parquet"}  # formats whose records have named fields (`id_field`, `html_field`, ...)


def get(name: str) -> Format:
    module, _, attribute = FORMATS[name].partition(":")
    return getattr(importlib.import_module(module), attribute or "FORMAT")
