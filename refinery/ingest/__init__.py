"""Ingest: read each source's ore into staging Parquet; quarantine what cannot be read, naming file and line."""

from typing import TYPE_CHECKING

from refinery.lazy import exports

if TYPE_CHECKING:
    from refinery.ingest.readers import IngestResult, ingest_source

__all__ = ["IngestResult", "ingest_source"]
__getattr__ = exports(__name__, dict.fromkeys(__all__, "refinery.ingest.readers"))
