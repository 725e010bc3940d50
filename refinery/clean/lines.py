"""Line-level cleaning: boilerplate lines stripped from a document before the document filters judge it, so a good
page with a cookie banner keeps its text and loses the banner (document filters alone keep or drop it whole).
One rule per entry: recipe key (under `clean.lines`), pattern, default, cited source. Each document counts the
lines stripped (`stripped_lines`); the stage reports counts per rule and examples."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from pydantic import create_model

from refinery.config import Flag, Strict

C4 = "C4 (Raffel et al. 2020, section 2.2): lines mentioning"
TERMINAL = r"[.!?:;\"'”’)\]]\s*$"
REPEATED_WORDS = 8


@dataclass(frozen=True)
class LineRule:
    key: str  # the recipe key under clean.lines
    default: bool
    source: str
    why: str = ""
    mentions: str | None = None  # a line mentioning this (a regular expression, any case) is stripped
    line: pl.Expr | None = None  # or, over `pl.element()`, a rule that looks at the whole line

    @property
    def matches(self) -> pl.Expr:
        return pl.element().str.contains(f"(?i:{self.mentions})") if self.mentions else self.line


RULES: list[LineRule] = [
    LineRule("cookie_lines", True, f"{C4} cookies", mentions=r"\bcookie(?:s| policy| settings| preferences)\b"),
    LineRule("policy_lines", True, f"{C4} them", mentions=r"\b(?:terms of use|privacy policy|terms and conditions)\b"),
    LineRule(
        "newsletter_lines",
        True,
        "Refinery: prompts C4's rules miss",
        why="10 of 1,618 refined real web pages kept such a prompt",
        mentions=r"\b(?:subscribe to our newsletter|sign up for our newsletter|subscribe now)\b",
    ),
    LineRule(
        "repeated_lines",
        True,
        "Refinery: CCNet's paragraph deduplication (Wenzek et al. 2020), within one document",
        why=f"a line of {REPEATED_WORDS}+ words that the document already holds: forum replies quoting the post, pages "
        "extracted twice; the first copy stays, and the repetition filters judge what remains",
        line=(pl.element().str.count_matches(r"\S+") >= REPEATED_WORDS) & ~pl.element().is_first_distinct(),
    ),
    LineRule(
        "javascript_lines",
        False,
        f"{C4} javascript",
        why="off: on forum posts it strips lines of technical answers (a document-level bound, max_javascript_lines, "
        "rejects pages that are mostly script notices)",
        mentions=r"\bjavascript\b",
    ),
    LineRule(
        "nav_lines",
        False,
        "C4 (lines without terminal punctuation), narrowed to three words or fewer: menus and breadcrumbs",
        why="off: forum posts have short unpunctuated lines (greetings, names, code)",
        line=(pl.element().str.strip_chars().str.count_matches(r"\S+") <= 3)
        & ~pl.element().str.contains(TERMINAL)
        & (pl.element().str.strip_chars() != ""),
    ),
]

Lines = create_model(
    "Lines",
    __base__=Strict,
    __doc__="Line rules; false switches one off. Patterns, defaults and sources: refinery/clean/lines.py.",
    **{r.key: (Flag, r.default) for r in RULES},
)


PER_RULE = "_lines_"  # per-rule counts: bookkeeping, not refined columns (nor is `_stripped`, the lines)


def strip_lines(frame: pl.DataFrame, config: Lines) -> pl.DataFrame:
    """Lines matching an enabled rule removed from `text`; `stripped_lines` counts them; `_lines_<rule>` per rule
    (a line counts for the first rule it matches) and `_stripped` (the lines) for the stage's report. Only the
    documents that mention something a rule looks for are split into lines (one scan of the text for the rest)."""
    rules = [r for r in RULES if getattr(config, r.key)]
    none = {f"{PER_RULE}{r.key}": pl.lit(0, pl.Int32) for r in rules}
    untouched = frame.with_columns(**none, stripped_lines=pl.lit(0, pl.Int32), _stripped=pl.lit([], pl.List(pl.String)))
    if not rules:
        return untouched
    suspect = (
        frame.get_column("text").str.contains("|".join(f"(?i:{r.mentions})" for r in rules)).fill_null(False)
        if all(r.mentions for r in rules)
        else pl.Series([True] * frame.height, dtype=pl.Boolean)
    )
    if not suspect.any():
        return untouched
    found = _strip(frame.filter(suspect), rules).select(untouched.columns)
    return untouched.with_row_index("_row").update(found.with_columns(_row=suspect.arg_true()), on="_row").drop("_row")


def _strip(frame: pl.DataFrame, rules: list[LineRule]) -> pl.DataFrame:
    lines = pl.col("text").str.split("\n")
    taken = pl.lit(False)
    counts = {}
    for rule in rules:
        counts[f"{PER_RULE}{rule.key}"] = lines.list.eval((rule.matches & ~taken).cast(pl.Int32)).list.sum()
        taken = taken | rule.matches
    counted = frame.with_columns(**counts, _stripped=lines.list.eval(pl.element().filter(taken)))
    counted = counted.with_columns(stripped_lines=pl.sum_horizontal(*counts).cast(pl.Int32))
    kept = lines.list.eval(pl.element().filter(~taken)).list.join("\n")
    return counted.with_columns(text=pl.when(pl.col("stripped_lines") > 0).then(kept).otherwise(pl.col("text")))
