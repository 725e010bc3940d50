"""Clean: repair and normalize text, redact personal data, identify language, compute quality signals and
reject what fails the filters. See `clean`.

The names below are imported when first used: the recipe model reads the filter registry without loading the
stage."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refinery.clean.stage import CleanResult, clean

__all__ = ["CleanResult", "clean"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from refinery.clean import stage

        return getattr(stage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
