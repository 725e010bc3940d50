"""Validation with Great Expectations (GX Core 1.x): the built-in suite for refined records plus the recipe's own.

GX is imported lazily (it takes seconds) and sees only the columns an expectation needs, as pandas.
"""

from typing import TYPE_CHECKING

from refinery.lazy import exports

if TYPE_CHECKING:
    from refinery.validate.suite import ExpectationOutcome, ValidationReport, build_suite, validate

__all__ = ["ExpectationOutcome", "ValidationReport", "build_suite", "validate"]
__getattr__ = exports(__name__, dict.fromkeys(__all__, "refinery.validate.suite"))
