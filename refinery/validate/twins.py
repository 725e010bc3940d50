"""Polars twins of GX's column-map expectations: the same unexpected rows, found over every row in one streamed
pass instead of through pandas.

GX's semantics, kept here: null values are ignored by every check except `..._to_not_be_null`; `mostly` is the
share of non-null values that must be expected; `..._to_be_unique` marks every copy of a repeated value;
`..._match_regex` searches anywhere in the value (Python's `re.search`; a pattern Polars' engine cannot compile
has no twin and runs in GX). GX still validates a sample of the rows and every flagged row (up to a cap), and the
two must agree: `suite.validate` fails the expectation where they do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# the kwargs each twin implements; an expectation declared with any other keyword runs in GX
KWARGS = {
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_unique": {"column", "mostly"},
    "expect_column_values_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max", "mostly"},
    "expect_column_values_to_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_not_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_match_regex": {"column", "regex", "mostly"},
    "expect_column_values_to_not_match_regex": {"column", "regex", "mostly"},
}


@dataclass(frozen=True)
class Twin:
    unexpected: pl.Expr  # true on each row the expectation finds unexpected
    counted: pl.Expr  # true on each row the expectation looks at (non-null, or every row for not_be_null)
    mostly: float | None

    def success(self, unexpected: int, counted: int) -> bool:
        if self.mostly is None:
            return unexpected == 0
        return counted == 0 or (counted - unexpected) / counted >= self.mostly


def _compiles(regex: str) -> bool:
    try:
        pl.select(pl.lit("").str.contains(regex))
    except pl.exceptions.PolarsError:
        return False
    return True


def twin(name: str, kwargs: dict, columns: list[str]) -> Twin | None:
    """The twin of `name(**kwargs)` over a table with `columns`, or None where GX must run it itself."""
    if name not in KWARGS or set(kwargs) - KWARGS[name] or kwargs.get("column") not in columns:
        return None
    if "regex" in kwargs and not _compiles(kwargs["regex"]):
        return None
    column = pl.col(kwargs["column"])
    present = column.is_not_null()
    match name:
        case "expect_column_values_to_not_be_null":
            return Twin(column.is_null(), pl.lit(True), kwargs.get("mostly"))
        case "expect_column_values_to_be_unique":
            failed = column.is_duplicated()
        case "expect_column_values_to_be_between":
            failed = pl.lit(False)
            if kwargs.get("min_value") is not None:
                low = kwargs["min_value"]
                failed = failed | (column <= low if kwargs.get("strict_min") else column < low)
            if kwargs.get("max_value") is not None:
                high = kwargs["max_value"]
                failed = failed | (column >= high if kwargs.get("strict_max") else column > high)
        case "expect_column_values_to_be_in_set":
            failed = ~column.is_in(list(kwargs["value_set"]))
        case "expect_column_values_to_not_be_in_set":
            failed = column.is_in(list(kwargs["value_set"]))
        case "expect_column_values_to_match_regex":
            failed = ~column.cast(pl.String).str.contains(kwargs["regex"])
        case _:  # expect_column_values_to_not_match_regex
            failed = column.cast(pl.String).str.contains(kwargs["regex"])
    return Twin(present & failed.fill_null(False), present, kwargs.get("mostly"))
