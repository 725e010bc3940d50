"""Heuristic quality filters: one signal column each, computed with Polars expressions over a batch, and the rules
that reject a row. The bounded filters (recipe key, signal, default, cited source, why the default departs from
it) are the entries of `registry.py`; here, the fixed rules: empty text, language (`languages`), C4's lorem ipsum
(on) and curly bracket (off: on the 11,315 real Usenet posts of `benchmarks/filters_real.py` it removed 3.7%,
nearly all good posts: code in technical answers and `{>` quoting styles).

Gopher measures repetition by characters; the shares here are by count, which is cheaper and close in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from refinery.clean.bound import SENTENCE_END, lines, prose, share, written
from refinery.clean.config import Filters
from refinery.clean.registry import BOUNDS

STOP_WORDS = r"(?i)\b(?:the|be|to|of|and|that|have|with)\b"
BULLET = r"^\s*(?:[-*•‣●▪◦]|\d+[.)])\s"


def _gram_counts(tokens: pl.DataFrame, n: int) -> pl.DataFrame:
    """(row, len): how often each n-gram of consecutive tokens occurs in its row. One 64-bit key per n-gram, the
    row in its top 24 bits and a 40-bit hash of the n tokens below, makes this a single-column count."""
    row = pl.col("row").cast(pl.UInt64)
    key = ngram_hash(pl.col("h"), n)
    same_row = (pl.col("row").shift(-(n - 1)) == pl.col("row")).fill_null(False)
    keys = tokens.select(k=row * (1 << 40) + (key & ((1 << 40) - 1)), same=same_row).filter("same")
    runs = keys.get_column("k").sort().rle().struct.unnest()  # sorted run lengths: faster than a hash count
    return runs.select(row=(pl.col("value") // (1 << 40)).cast(pl.UInt32), len=pl.col("len"))


def ngram_hash(h: pl.Expr, n: int) -> pl.Expr:
    """Over a column of word hashes in order: a hash of each word and the n - 1 after it (FNV-style mixing)."""
    key = h
    for k in range(1, n):
        key = key * 0x100000001B3 + h.shift(-k)
    return key


def word_tokens(rows: pl.DataFrame) -> pl.DataFrame:
    """(row, t, h): the lower-cased `\\w+` tokens of each row's text and their hashes, in order."""
    tokens = rows.select("row", t=pl.col("text").str.to_lowercase().str.extract_all(r"\w+")).explode("t")
    return tokens.drop_nulls("t").with_columns(h=pl.col("t").hash(seed=0))


def _words(text: pl.Series) -> pl.DataFrame:
    """(row, w): the whitespace-separated words of each text."""
    spaced = pl.col("text").str.replace_all(r"[\t\n\r\x0B\x0C]", " ")
    rows = pl.DataFrame({"text": text}).with_row_index("row")
    return rows.select("row", w=spaced.str.split(" ")).explode("w").filter(pl.col("w").str.len_bytes() > 0)


def token_signals(text: pl.Series, prose_text: pl.Series, written_text: pl.Series) -> pl.DataFrame:
    """Word-level signals, one row per text (at most 2**24 per call), from exploded (row, token) tables:
    vectorized counts rather than per-row list evaluation. Repeated 5-grams are counted in `prose_text`, the text's
    prose lines (`bound.prose`): a table's column headers or a program's braces are not repetitive writing; the
    share of words with a letter in `written_text`, the text less code and data tables (`bound.written`)."""
    rows = pl.DataFrame({"text": text}).with_row_index("row")
    per_row = (
        _words(text)
        .group_by("row")
        .agg(n_words=pl.len().cast(pl.Int64), mean_word_length=pl.col("w").str.len_chars().mean())
    )
    alpha = _words(written_text).group_by("row").agg(alpha_words=pl.col("w").str.contains(r"\p{L}").mean())
    top = _gram_counts(word_tokens(rows), 2).group_by("row").agg(top_2gram=pl.col("len").max() / pl.col("len").sum())
    repeated = (
        _gram_counts(word_tokens(pl.DataFrame({"text": prose_text}).with_row_index("row")), 5)
        .group_by("row")
        .agg(duplicate_5grams=(pl.col("len") - 1).sum() / pl.col("len").sum())
    )
    out = rows.select("row")
    for part in (per_row, alpha, top, repeated):
        out = out.join(part, on="row", how="left", maintain_order="left")
    return out.drop("row").with_columns(
        pl.col("n_words").fill_null(0),
        pl.col("mean_word_length", "alpha_words", "top_2gram", "duplicate_5grams").cast(pl.Float64).fill_null(0.0),
    )


def add_signals(frame: pl.DataFrame) -> pl.DataFrame:
    """Signal columns, kept on refined rows so trainers can re-filter without re-running."""
    per_line, prose_lines = lines(), lines().list.eval(pl.element().filter(prose()))
    paragraphs = (
        pl.col("text")
        .str.split("\n\n")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    prose_text = frame.select(prose_lines.list.join("\n")).to_series()
    written_text = frame.select(lines().list.eval(pl.element().filter(written())).list.join("\n")).to_series()
    signals = token_signals(frame.get_column("text"), prose_text, written_text)
    frame = pl.concat([frame, signals], how="horizontal")
    punctuated = pl.element().str.contains(r"[.!?\"'”’)]\s*$")
    return frame.with_columns(
        (pl.col("text").str.count_matches(r"#|\.\.\.|…") / pl.col("n_words")).fill_nan(0).alias("symbol_word_ratio"),
        share(per_line, pl.element().str.contains(BULLET) & ~punctuated).alias("bullet_lines"),
        share(per_line, pl.element().str.contains(r"(?:\.\.\.|…)\s*$")).alias("ellipsis_lines"),
        share(per_line, punctuated).alias("punctuated_lines"),
        (prose_text.str.count_matches(rf"\p{{L}}{SENTENCE_END}") / written_text.str.count_matches(r"\S+"))
        .fill_nan(0)
        .alias("sentence_ends"),
        pl.col("text").str.count_matches(STOP_WORDS).cast(pl.Int64).alias("stop_words"),
        share(prose_lines, pl.element().is_duplicated() & ~pl.element().is_first_distinct()).alias("duplicate_lines"),
        share(paragraphs, pl.element().is_duplicated() & ~pl.element().is_first_distinct()).alias(
            "duplicate_paragraphs"
        ),
        share(per_line, pl.element().str.contains(r"(?i)javascript")).alias("javascript_lines"),
    )


def extra_signals(frame: pl.DataFrame, config: Filters) -> pl.DataFrame:
    """The signals of registered filters beyond the built-in set, for those the recipe switches on."""
    return frame.with_columns(
        b.compute().alias(b.signal) for b in BOUNDS if b.compute and getattr(config, b.key) is not None
    )


@dataclass(frozen=True)
class Rule:
    name: str  # the recipe key, and the `reason` of a rejected row
    signal: str  # the column whose value is reported
    failed: pl.Expr


def rules(config: Filters) -> list[Rule]:
    """The enabled filters, in the order they are checked; a row is rejected by the first that fails."""
    col = pl.col
    found = [Rule("empty_text", "n_words", col("text").str.strip_chars() == "")]  # always: nothing left to refine
    if config.languages is not None:  # a text with no detected language is not let through as if it matched
        found.append(Rule("no_language", "lang_score", col("lang").is_null()))
        found.append(Rule("languages", "lang_score", ~col("lang").is_in(config.languages)))
    if config.lorem_ipsum:
        found.append(Rule("lorem_ipsum", "n_words", col("text").str.contains(r"(?i)lorem ipsum")))
    if config.curly_bracket:
        found.append(Rule("curly_bracket", "n_words", col("text").str.contains(r"[{}]")))
    for b in BOUNDS:
        bound = getattr(config, b.key)
        if bound is None:
            continue
        failed = col(b.signal) < bound if b.lower else col(b.signal) > bound
        if b.english_only:
            failed = failed & (col("lang") == "en")
        found.append(Rule(b.key, b.signal, failed))
    # language before length: a short page in another language is removed for its language (but an unsure language
    # on a short page is its shortness: the score comes after the length)
    order = ["empty_text", "no_language", "languages", "min_words", "max_words", "min_language_score"]
    order += ["lorem_ipsum", "curly_bracket"]
    return sorted(found, key=lambda r: order.index(r.name) if r.name in order else len(order))


def first_failure(config: Filters) -> dict[str, pl.Expr]:
    """`reason`, `signal` and `value` of the first failing rule, null where every rule passes."""
    reason, signal, value = pl.lit(None, pl.String), pl.lit(None, pl.String), pl.lit(None, pl.Float64)
    for rule in reversed(rules(config)):
        failed = rule.failed.fill_null(False)
        reason = pl.when(failed).then(pl.lit(rule.name)).otherwise(reason)
        signal = pl.when(failed).then(pl.lit(rule.signal)).otherwise(signal)
        value = pl.when(failed).then(pl.col(rule.signal).cast(pl.Float64)).otherwise(value)
    return {"reason": reason, "signal": signal, "value": value}
