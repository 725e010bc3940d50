"""The quality filters that bound a signal, one entry each, in the order rows are checked after the fixed rules
(`filters.rules`). The recipe's `clean.filters` model and the cleaning rules are generated from this table: a new
filter is a `Bound` in a module of its own and one line here."""

from refinery.clean.bound import Bound
from refinery.clean.short_lines import SHORT_LINES

GOPHER = "Gopher quality filter (Rae et al. 2021, appendix A)"
GOPHER_REPETITION = "Gopher repetition filter (Rae et al. 2021, appendix A), by count"

BOUNDS: list[Bound] = [
    Bound("min_words", "n_words", 50, GOPHER),
    Bound("max_words", "n_words", 100_000, GOPHER),
    Bound(
        "min_language_score",
        "lang_score",
        0.3,
        "fastText lid.176 on 1,000 characters (FineWeb: 0.65 for English)",
        why="0.5 removed 3.0% of real Usenet posts, mostly good English ones opening with headers, quotes or "
        "signature art; 0.3 removes 0.7%",
    ),
    Bound(
        "max_javascript_lines",
        "javascript_lines",
        0.5,
        "C4 drops such lines (Raffel et al. 2020)",
        why="Refinery keeps documents whole, so it rejects mostly-JavaScript ones",
    ),
    Bound("min_mean_word_length", "mean_word_length", 3, GOPHER),
    Bound("max_mean_word_length", "mean_word_length", 10, GOPHER),
    Bound("max_symbol_word_ratio", "symbol_word_ratio", 0.1, GOPHER),
    Bound("max_bullet_lines", "bullet_lines", 0.9, GOPHER),
    Bound("max_ellipsis_lines", "ellipsis_lines", 0.3, GOPHER),
    Bound(
        "min_punctuated_lines",
        "punctuated_lines",
        None,
        "FineWeb (line_punct_thr 0.12)",
        why="off: it reads the extractor's line breaks, so code, tables and pages extracted on one line fail it; on "
        "85 labelled real web pages it removed, 58 deserved it (benchmarks/filters_web.py); min_sentence_ends "
        "asks the same of the words",
    ),
    Bound(
        "min_sentence_ends",
        "sentence_ends",
        0.01,
        "Refinery: FineWeb's line punctuation, counted per word (a letter, then . ! ? or …, then a space)",
        why="prose ends a sentence every 15 to 25 words; menus, product grids and tables of figures almost never",
    ),
    Bound(
        "min_alpha_words",
        "alpha_words",
        0.7,
        "Gopher (0.8)",
        why="0.8 removed 2.0% of real Usenet posts, mostly good ones whose tables, dashed rules or quoted headers "
        "hold letterless words; 0.7 removes 0.6%",
    ),
    Bound("min_stop_words", "stop_words", 2, "Gopher: the, be, to, of, and, that, have, with", english_only=True),
    Bound("max_duplicate_lines", "duplicate_lines", 0.3, GOPHER_REPETITION),
    Bound("max_duplicate_paragraphs", "duplicate_paragraphs", 0.3, GOPHER_REPETITION),
    Bound("max_top_2gram", "top_2gram", 0.2, GOPHER_REPETITION),
    Bound(
        "max_duplicate_5grams",
        "duplicate_5grams",
        0.3,
        "Gopher repetition filter (0.15 of characters in repeated 5-grams)",
        why="counted on prose lines; at 0.15 it removed 29 labelled real web pages of which 18 deserved it (forum "
        "threads quoting each other, templated service pages, API references); at 0.3, 8 of 9",
    ),
    SHORT_LINES,
]
