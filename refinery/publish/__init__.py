"""Publish: an immutable, versioned folder of Parquet with its manifest, datacard and validation evidence."""

from refinery.publish.stage import PublishInput, PublishOutcome, publish

__all__ = ["PublishInput", "PublishOutcome", "publish"]
