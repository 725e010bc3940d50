"""Clean: repair and normalize text, redact personal data, identify language, compute quality signals and
reject what fails the filters. See `clean`."""

from typing import TYPE_CHECKING

from refinery.lazy import exports

if TYPE_CHECKING:
    from refinery.clean.stage import CleanResult, clean

__all__ = ["CleanResult", "clean"]
__getattr__ = exports(__name__, dict.fromkeys(__all__, "refinery.clean.stage"))
