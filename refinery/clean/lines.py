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


@dataclass(frozen=True)
class LineRule:
    key: str  # the recipe key under clean.lines
    matches: pl.Expr  # over `pl.element()`: one line
    default: bool
    source: str
    why: str = ""


def _mentions(pattern: str) -> pl.Expr:
    return pl.element().str.contains(pattern)


RULES: list[LineRule] = [
    LineRule("cookie_lines", _mentions(r"(?i)\bcookie(?:s| policy| settings| preferences)\b"), True, f"{C4} cookies"),
    LineRule(
        "policy_lines", _mentions(r"(?i)\b(?:terms of use|privacy policy|terms and conditions)\b"), True, f"{C4} them"
    ),
    LineRule(
        "newsletter_lines",
        _mentions(r"(?i)\b(?:subscribe to our newsletter|sign up for our newsletter|subscribe now)\b"),
        True,
        "Refinery: prompts C4's rules miss",
        why="10 of 1,618 refined real web pages kept such a prompt",
    ),
    LineRule(
        "javascript_lines",
        _mentions(r"(?i)\bjavascript\b"),
        False,
        f"{C4} javascript",
        why="off: on forum posts it strips lines of technical answers (a document-level bound, max_javascript_lines, "
        "rejects pages that are mostly script notices)",
    ),
    LineRule(
        "nav_lines",
        (pl.element().str.strip_chars().str.count_matches(r"\S+") <= 3)
        & ~pl.element().str.contains(TERMINAL)
        & (pl.element().str.strip_chars() != ""),
        False,
        "C4 (lines without terminal punctuation), narrowed to three words or fewer: menus and breadcrumbs",
        why="off: forum posts have short unpunctuated lines (greetings, names, code)",
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
    (a line counts for the first rule it matches) and `_stripped` (the lines) for the stage's report."""
    rules = [r for r in RULES if getattr(config, r.key)]
    if not rules:
        return frame.with_columns(stripped_lines=pl.lit(0, pl.Int32), _stripped=pl.lit([], pl.List(pl.String)))
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
