"""Forum and mail structure: the parts of a post that are not the post. Mail/Usenet headers, quoted replies and
their attributions, and signatures are stripped before language ID, PII and the quality filters, so those read
what the author wrote; how many lines each part had is kept per document (`stripped_*`).
"""

from __future__ import annotations

import polars as pl

from refinery.clean.config import Structure

# a leading block of two or more `Name: value` lines (with folded continuation lines), up to a blank line
HEADERS = r"\A(?:[A-Za-z][A-Za-z0-9-]*:[^\n]*\n(?:[ \t]+[^\n]*\n)*){2,}\n*"
# lines quoted from another post (`>`, `|>`, `: >` styles), and the attribution that introduces them
QUOTES = r"(?m)^[ \t]*(?:>|\|>|:[ \t]*>)[^\n]*(?:\n|\z)"
ATTRIBUTION = r"(?m)^(?:In article [^\n]*|[^\n]{1,160}(?:writes|wrote|says)[ \t]*:)[ \t]*(?:\n|\z)"
# the conventional `-- ` line (RFC 3676) or a bare `--`, and everything after it
SIGNATURE = r"(?s)\n--[ \t]?\n.*\z"


STEPS = [("headers", HEADERS), ("quotes", ATTRIBUTION), ("quotes", QUOTES), ("signature", SIGNATURE)]


def _lines(pattern: str) -> pl.Expr:
    """How many lines the matches of `pattern` in `text` span."""
    matched = pl.col("text").str.extract_all(pattern)
    return matched.list.eval(pl.element().str.count_matches(r"[^\n]*\n|[^\n]+\z")).list.sum().fill_null(0)


def strip_structure(frame: pl.DataFrame, config: Structure) -> pl.DataFrame:
    """`text` without the switched-on parts; `stripped_headers`, `stripped_quotes` and `stripped_signature` count
    the lines each removed."""
    frame = frame.with_columns(
        pl.lit(0, pl.Int32).alias(f"stripped_{name}") for name in ("headers", "quotes", "signature")
    )
    for name, pattern in STEPS:
        if getattr(config, name):
            column = f"stripped_{name}"
            frame = frame.with_columns(
                (pl.col(column) + _lines(pattern)).cast(pl.Int32), text=pl.col("text").str.replace_all(pattern, "")
            )
    return frame
