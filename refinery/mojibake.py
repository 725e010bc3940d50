"""Mojibake: UTF-8 text that was decoded as Latin-1 or cp1252 somewhere upstream ("Ã©", "â€™", "Â "), repaired by
ftfy. Shared by ingest, which repairs HTML before extraction (the extractor drops the C1 control characters that
ftfy needs to undo it), and cleaning, which repairs the text of every other format.
"""

from __future__ import annotations

import re

import polars as pl

# Byte sequences that mis-decoded UTF-8 leaves behind: ftfy runs only on text that shows one (or, in extracted text,
# an HTML entity), which keeps the per-document library call off clean text.
MOJIBAKE = (
    r"[ÂÃÅÄâÐÑð][\u0080-\u00BF\u0152\u0153\u0160\u0161\u0178\u017D\u017E\u0192\u02C6\u02DC\u2013-\u203A\u20AC\u2122]"
)
MOJIBAKE_HINT = MOJIBAKE + r"|&(?:amp|lt|gt|quot|nbsp|#\d{2,5});"


def fix_mojibake(text: str) -> str:
    """ftfy's repair of one text: encodings and entities only (quotes, ligatures and Unicode form left alone)."""
    import ftfy  # imported lazily: its tables take a moment to load

    return ftfy.fix_text(text, uncurl_quotes=False, fix_latin_ligatures=False, normalization=None)


_SHOWN = re.compile(MOJIBAKE)


def shows_mojibake(text: str) -> bool:
    return _SHOWN.search(text) is not None


def repaired(text: str) -> str:
    """The text with its mojibake repaired; as it is, and ftfy not called, when it shows none."""
    return fix_mojibake(text) if shows_mojibake(text) else text


def repaired_texts(texts: pl.Series, shown: str = MOJIBAKE_HINT) -> pl.Series:
    """ftfy over the texts that show `shown`; the others are returned untouched."""
    suspect = texts.str.contains(shown).fill_null(False)
    if not suspect.any():
        return texts
    fixed = pl.Series([fix_mojibake(t) for t in texts.filter(suspect)], dtype=pl.String)
    return texts.scatter(suspect.arg_true(), fixed)
