"""Ingest: read each source's ore into staging Parquet; quarantine what cannot be read, naming file and line."""

from refinery.ingest.readers import IngestResult, ingest_source

__all__ = ["IngestResult", "ingest_source"]
