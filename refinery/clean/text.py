"""Text repair and normalization: mojibake (ftfy), Unicode form, control characters, whitespace."""

from __future__ import annotations

import polars as pl

from refinery.clean.config import Normalize

CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\u200B\uFEFF]"


SPACE = r"[ \t\u00A0\u2000-\u200A\u3000]"


def normalize_text(text: pl.Series, config: Normalize) -> pl.Series:
    """Vectorized normalization of the already repaired text.

    ASCII text is already in every Unicode normal form, so only the other documents are normalized; whitespace
    patterns match only where something changes (a run, a tab, a space at a line end), never every single space.
    """
    if config.unicode_form:
        needs = text.str.contains(r"[^\x00-\x7F]").fill_null(False)
        if needs.any():
            text = text.scatter(needs.arg_true(), text.filter(needs).str.normalize(config.unicode_form))
    if config.strip_control:
        text = text.str.replace_all(CONTROL, "")
    if config.whitespace:
        text = (
            text.str.replace_all(r"\r\n?", "\n")
            .str.replace_all(rf"{SPACE}{{2,}}|[\t\u00A0\u2000-\u200A\u3000]", " ")
            .str.replace_all(r" \n|\n ", "\n")
            .str.replace_all(r"\n{3,}", "\n\n")
            .str.strip_chars()
        )
    return text
