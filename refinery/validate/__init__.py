"""Validation with Great Expectations (GX Core 1.x): the built-in suite for refined records plus the recipe's own.

GX is imported lazily (it takes seconds) and sees only the columns an expectation needs, as pandas.
"""

from refinery.validate.suite import ExpectationOutcome, ValidationReport, build_suite, validate

__all__ = ["ExpectationOutcome", "ValidationReport", "build_suite", "validate"]
