"""Publish: an immutable, versioned folder of Parquet with its manifest, datacard and validation evidence.

The names below are imported when first used, so the evidence process (`python -m refinery.publish.evidence`)
starts without the publishing machinery."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refinery.publish.stage import PublishInput, PublishOutcome, publish

__all__ = ["PublishInput", "PublishOutcome", "publish"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from refinery.publish import stage

        return getattr(stage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
