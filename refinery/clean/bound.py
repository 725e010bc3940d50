"""What a quality filter is: one bound on one signal column, with its default and where that comes from. A filter
whose signal the built-in set does not compute brings its expression (`compute`). Registered in `registry.py`."""

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Bound:
    key: str  # the recipe key under clean.filters, and the `reason` of a rejected row; `min_`: below is rejected
    signal: str  # the column bounded, reported as the rejected row's `value`
    default: int | float | None  # None: off unless a recipe sets it
    source: str  # where the default comes from
    why: str = ""  # why the default departs from its source, when it does
    compute: Callable[[], pl.Expr] | None = None  # the signal, when the built-in signals do not include it
    english_only: bool = False  # applies to documents identified as English only

    @property
    def lower(self) -> bool:
        return self.key.startswith("min_")

    @property
    def kind(self) -> type:
        return int if isinstance(self.default, int) else float


def lines() -> pl.Expr:
    """The text's non-blank lines, as a list."""
    return pl.col("text").str.split("\n").list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))


SENTENCE_END = r"[.!?…][\"'”’)\]]*(?:\s|$)"  # a sentence's last mark, then a quote or bracket, then a space
PROSE_WORDS = 5  # words with a letter: a line with fewer is a heading, a label, a menu entry or figures


def prose() -> pl.Expr:
    """Over `pl.element()` (a line): whether it is prose, not a line of code, a heading, a menu entry or a row of
    figures. Trafilatura keeps a program's lines, whose braces and keywords repeat by design, and writes tables as
    `| ... |` rows: a row of a data table ends no sentence, while pages laid out in tables hold paragraphs in cells."""
    return written() & (pl.element().str.count_matches(r"\p{L}\S*") >= PROSE_WORDS)


def written() -> pl.Expr:
    """Over `pl.element()` (a line): whether it is writing of any length (menus included), not code or figures."""
    code = pl.element().str.strip_chars().str.contains(r"[{};]$|^(?:[{}]|</?[A-Za-z]|//|/\*|\*/|>>>|\$ |#[ !])")
    return ~code & ~data_row()


def data_row() -> pl.Expr:
    """Over `pl.element()` (a line): whether it is a row of a data table (`| ... |`, as trafilatura writes tables)
    that ends no sentence: figures and labels, where a page laid out in a table holds paragraphs in its cells."""
    line = pl.element().str.strip_chars()
    return line.str.starts_with("|") & ~line.str.contains(rf"\p{{L}}{SENTENCE_END}")


def share(items: pl.Expr, condition: pl.Expr) -> pl.Expr:
    """The share of `items` (a list expression) for which `condition` holds; 0 for none."""
    return items.list.eval(condition.cast(pl.Float64).mean()).list.first().fill_null(0.0)
