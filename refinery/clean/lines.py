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
COMMON_WORDS = 3  # a common line has at least this many words,
COMMON_DOCS = 10  # is found in at least this many documents of its source,
COMMON_SHARE = 0.001  # and in at least this share of them


@dataclass(frozen=True)
class LineRule:
    key: str  # the recipe key under clean.lines
    default: bool
    source: str
    why: str = ""
    mentions: str | None = None  # a line mentioning this (a regular expression, any case) is stripped
    line: pl.Expr | None = None  # or, over `pl.element()`, a rule that looks at the whole line
    common: bool = False  # or the line is common across the documents of its source (`common_lines`)

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
        "common_lines",
        False,
        "Refinery: a site's menus, footers and notices, as the lines of 3+ words found in at least "
        f"{COMMON_DOCS} documents and {COMMON_SHARE:.1%} of the documents of one source",
        why="off: in forum posts such lines are greetings and thanks, part of the writing; switch it on for web ore",
        common=True,
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


def line_key(line: pl.Expr) -> pl.Expr:
    """What makes two lines the same line: their words, in lower case, whatever the spacing (a hash, per run)."""
    return line.str.strip_chars().str.replace_all(r"\s+", " ").str.to_lowercase().hash(seed=0)


def common_lines(records: pl.LazyFrame) -> pl.DataFrame:
    """(source, key) of the lines common across the documents of their source (the `common_lines` rule), over the
    whole input: one pass, streamed. Memory grows with the distinct lines of 3+ words of the corpus (a hash and a
    count each), not with its text."""
    lines = (
        records.select("source", "doc_id", line=pl.col("text").str.split("\n"))
        .explode("line")
        .filter(pl.col("line").str.count_matches(r"\S+") >= COMMON_WORDS)
        .select("source", "doc_id", key=line_key(pl.col("line")))
        .unique()
        .group_by("source", "key")
        .agg(docs=pl.len())
    )
    sizes = records.group_by("source").agg(size=pl.len())
    enough = pl.max_horizontal(pl.lit(COMMON_DOCS), pl.col("size") * COMMON_SHARE)
    found = lines.join(sizes, on="source").filter(pl.col("docs") >= enough).select("source", "key")
    return found.collect(engine="streaming")


def strip_lines(frame: pl.DataFrame, config: Lines, common: pl.DataFrame | None = None) -> pl.DataFrame:
    """Lines matching an enabled rule removed from `text`; `stripped_lines` counts them; `_lines_<rule>` per rule
    (a line counts for the first rule it matches, `common_lines` last, given the (source, key) pairs of
    `common_lines()`) and `_stripped` (the lines) for the stage's report. Only the documents that mention
    something a rule looks for are split into lines (one scan of the text for the rest)."""
    frame = _strip_rules(frame, [r for r in RULES if getattr(config, r.key) and not r.common])
    if not config.common_lines:
        return frame
    return _strip_common(frame, common if common is not None else pl.DataFrame(schema={"source": pl.String}))


def _strip_rules(frame: pl.DataFrame, rules: list[LineRule]) -> pl.DataFrame:
    none = {f"{PER_RULE}{r.key}": pl.lit(0, pl.Int32) for r in rules}
    untouched = frame.with_columns(**none, stripped_lines=pl.lit(0, pl.Int32), _stripped=pl.lit([], pl.List(pl.String)))
    if not rules:
        return untouched
    suspect = (
        frame.get_column("text").str.contains("|".join(f"(?i:{r.mentions})" for r in rules)).fill_null(False)
        if all(r.mentions for r in rules)
        else pl.repeat(True, frame.height, eager=True)
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


def _strip_common(frame: pl.DataFrame, common: pl.DataFrame) -> pl.DataFrame:
    """The lines of each document that are common across its source (`common`: source, key) removed and counted."""
    count = f"{PER_RULE}common_lines"
    if common.height == 0 or frame.height == 0:
        return frame.with_columns(pl.lit(0, pl.Int32).alias(count))
    lines = (
        frame.select("source", line=pl.col("text").str.split("\n"))
        .with_row_index("_row")
        .explode("line")
        .with_columns(key=line_key(pl.col("line")))
        .join(common.with_columns(_common=pl.lit(True)), on=["source", "key"], how="left", maintain_order="left")
        .with_columns(pl.col("_common").fill_null(False))
    )
    common_line = pl.col("line").filter("_common")
    per_doc = lines.group_by("_row", maintain_order=True).agg(
        _kept=pl.col("line").filter(~pl.col("_common")).str.join("\n"),
        _common_lines=common_line,
        **{count: pl.col("_common").sum().cast(pl.Int32)},
    )
    found = pl.col(count) > 0
    return (
        pl.concat([frame, per_doc.drop("_row")], how="horizontal")
        .with_columns(
            text=pl.when(found).then("_kept").otherwise("text"),
            stripped_lines=pl.col("stripped_lines") + pl.col(count),
            _stripped=pl.col("_stripped").list.concat("_common_lines"),
        )
        .drop("_kept", "_common_lines")
    )
