"""Main content by classifying a page's text blocks (`extraction: {engine: blocks}`), the approach of boilerpipe,
Dragnet and Web2Text: the page is cut into blocks (the text under each block-level element), each block is described
by its text (words, punctuation, links), its place (depth, position, neighbours, siblings) and the names of the
elements around it (`nav`, `footer`, class and id words such as `comment` or `sidebar`), and two gradient-boosted
models (LightGBM) say which blocks are content: the first from the block alone, the second also from what the first
said of the blocks around it (main content is a run of blocks, not scattered ones).

The models (`blocks_model/`) were trained on WCXB's development split (`benchmarks/train_extractor.py`, CC-BY-4.0
pages and labels) and are scored on its held-out test split by `benchmarks/extract_bench.py`. Pages are extracted a
batch at a time: features are Polars expressions over every block of the batch, and each model predicts once."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from refinery.mojibake import MOJIBAKE, repaired, repaired_texts

if TYPE_CHECKING:
    from types import ModuleType

    import lightgbm
    from selectolax.lexbor import LexborNode

MODELS = Path(__file__).with_name("blocks_model")
CONTEXT_COLUMNS = 12  # what `context` adds for the second model
THRESHOLD = 0.5  # a block is content when the second model's probability reaches this (not tuned)


def _names(spaced: str) -> tuple[str, ...]:
    return tuple(spaced.split())


# elements that start a block of their own; text under any other element belongs to the block around it
BLOCK_TAGS = frozenset(
    _names(
        "p h1 h2 h3 h4 h5 h6 li td th pre blockquote dd dt figcaption div section article main header footer nav"
        " aside ul ol dl table tr form body caption summary details address fieldset legend label option"
    )
)
DROPPED = ("script", "style", "template", "svg", "iframe", "head")  # never text a reader sees
TAGS = _names(  # one bit each when the element, or an element around it, is one of these
    "nav footer header aside article main form li table blockquote pre code button h1 h2 h3 p ul ol dl figure a"
)
WORDS = _names(  # one bit each when an element's class or id names one of these (plural s removed)
    "menu sidebar comment share social related breadcrumb ad widget cookie consent content post entry body text story"
    " title author byline meta date tag category item product price cart forum reply message thread review faq toc"
    " copyright subscribe newsletter search login modal popup banner promo hidden card grid wrapper container answer"
    " question user quote hero pagination more"
)
_TAG_INDEX = {t: i for i, t in enumerate(TAGS)}
_TAG_BIT = {t: 1 << i for i, t in enumerate(TAGS)}
_WORD_BIT = {w: 1 << i for i, w in enumerate(WORDS)}
_NAME = re.compile(r"[a-z]+")
TEXT_SIGNS = (  # the block's text says what it is
    r"©|copyright|all rights reserved",
    r"cookie",
    r"subscribe|newsletter|sign up|log ?in|register",
    r"\bshare\b|tweet|facebook",
    r"read more|continue reading|learn more|see all|view all|load more",
    r"comment|reply|replies",
    r"\b(19|20)\d\d\b",
    r"[|»›]",
    r"^[-•*]",
    r"\$\s?\d|€|£|price|add to cart|buy",
    r"^(posted|published|updated|by)\b",
    r"^\d+$",
    r"https?://",
)


@dataclass
class Segmented:
    """The blocks of a batch of pages, one list per column (rows in page order)."""

    page: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tag: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    grandparent: list[int] = field(default_factory=list)
    link_chars: list[int] = field(default_factory=list)
    near_tags: list[int] = field(default_factory=list)
    far_tags: list[int] = field(default_factory=list)
    near_words: list[int] = field(default_factory=list)
    far_words: list[int] = field(default_factory=list)

    def frame(self, repair: bool = True) -> pl.DataFrame:
        """The blocks as a frame, each text with its runs of whitespace made one space; with `repair`, the texts
        that show mojibake are repaired by ftfy first (mis-decoded bytes include U+00A0, a space to collapse)."""
        names = ("near_tags", "far_tags", "near_words", "far_words")
        schema = {
            n: pl.UInt64 if n in names else pl.String if n == "text" else pl.Int64 for n in self.__dataclass_fields__
        }
        frame = pl.DataFrame({name: getattr(self, name) for name in schema}, schema=schema)
        text = repaired_texts(frame["text"], MOJIBAKE) if repair else frame["text"]
        return frame.with_columns(text.str.replace_all(r"\s+", " ").str.strip_chars())


@lru_cache(maxsize=1 << 16)  # bounded: generated class names (css-1x2y3z) are new on every site
def _word_bits(names: str) -> int:
    bits = 0
    for name in _NAME.findall(names.lower()):
        bits |= _WORD_BIT.get(name, 0) or _WORD_BIT.get(name.removesuffix("s"), 0)
    return bits


class _Page:
    """Every block of one page, with and without text (a block is its index; parents are indices): a row each of
    (tag, depth, parent, near tags, far tags, near words, far words), and the text and link characters of the blocks
    that hold text."""

    __slots__ = ("link", "rows", "text")

    def __init__(self) -> None:
        self.rows: list[tuple[int, ...]] = [(len(TAGS), 0, -1, 0, 0, 0, 0)]  # the body
        self.text: dict[int, list[str]] = {}
        self.link: dict[int, int] = {}


_NAMED = BLOCK_TAGS | set(TAGS)  # elements whose tag, class and id describe the blocks under them
MAX_DEPTH = 256  # deeper elements' text joins the block around them (libxml2's limit; no page nests deeper)
# A frame: the block that text here belongs to, then (tag bit, word bits) of the nearest named element, of its named
# parent and of its named grandparent, then every named ancestor's or-ed together.
Frame = tuple[int, int, int, int, int, int, int, int, int]


def segment(html: str, page: int, into: Segmented) -> tuple[str | None, str | None]:
    """Append the page's blocks that hold text to `into`; return its title and canonical URL.

    lexbor (through selectolax) parses the page as browsers do, in C, about 3x faster than libxml2; one walk over
    its elements then gives each block its text and names."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    title_element, canonical = tree.css_first("title"), tree.css_first('link[rel="canonical"]')
    title = title_element.text(deep=False) if title_element is not None else None
    url = canonical.attributes.get("href") if canonical is not None else None
    tree.strip_tags(list(DROPPED))
    tree.merge_text_nodes()
    blocks = _Page()
    if tree.root is not None:
        _walk(tree.root, (0, 0, 0, 0, 0, 0, 0, 0, 0), False, 1, blocks)
    _append(blocks, page, into)
    return (" ".join(repaired(title).split()) or None) if title else None, url or None


def _walk(element: LexborNode, frame: Frame, link: bool, depth: int, blocks: _Page) -> None:
    """The text under `element` into the blocks of its frame and of the block elements below it. Text split only by
    comments is one text, as in the page (server-rendered pages write `$<!-- -->42`)."""
    pending: list[str] = []
    for child in element.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = child.text_content
            if pending or not text.isspace():  # the whitespace between elements is most of a page's text nodes
                pending.append(text)
            continue
        if tag[0] == "-":  # a comment
            continue
        if pending:
            _add(blocks, frame[0], pending, link)
            pending = []
        if depth >= MAX_DEPTH:
            _add(blocks, frame[0], [child.text(separator=" ")], link)
        else:
            inner = _framed(child, tag, frame, depth + 1, blocks) if tag in _NAMED else frame
            _walk(child, inner, link or tag == "a", depth + 1, blocks)
    if pending:
        _add(blocks, frame[0], pending, link)


def _add(blocks: _Page, block: int, pieces: list[str], link: bool) -> None:
    text = "".join(pieces)
    if text and not text.isspace():
        blocks.text.setdefault(block, []).append(text)
        if link:
            blocks.link[block] = blocks.link.get(block, 0) + len(text)


def _framed(element: LexborNode, tag: str, parent: Frame, depth: int, blocks: _Page) -> Frame:
    """A named element's frame; a block element also starts a block, whose near names are its own and its three
    nearest named ancestors', its far names every ancestor's."""
    attributes = element.attributes
    names = attributes.get("class"), attributes.get("id")
    t, w = _TAG_BIT.get(tag, 0), _word_bits(f"{names[0]} {names[1]}") if names[0] or names[1] else 0
    block = parent[0]
    if tag in BLOCK_TAGS:
        near = (t | parent[1] | parent[3] | parent[5], parent[7] | t, w | parent[2] | parent[4] | parent[6])
        block = len(blocks.rows)
        blocks.rows.append((_TAG_INDEX.get(tag, len(TAGS)), depth, parent[0], *near, parent[8] | w))
    return (block, t, w, parent[1], parent[2], parent[3], parent[4], parent[7] | t, parent[8] | w)


def _append(blocks: _Page, page: int, into: Segmented) -> None:
    """The blocks that hold text; `parent` and `grandparent` are indices among all the page's blocks."""
    kept = sorted(blocks.text)
    into.text.extend(" ".join(blocks.text[i]) for i in kept)
    into.page.extend([page] * len(kept))
    into.link_chars.extend(blocks.link.get(i, 0) for i in kept)
    rows = blocks.rows
    columns = (into.tag, into.depth, into.parent, into.near_tags, into.far_tags, into.near_words, into.far_words)
    for column, values in zip(columns, zip(*(rows[i] for i in kept), strict=True), strict=False):  # none: no rows
        column.extend(values)
    into.grandparent.extend(rows[rows[i][2]][2] if rows[i][2] >= 0 else -1 for i in kept)


def _bits(column: pl.Series, width: int, into: np.ndarray) -> None:
    """The column's first `width` bits, a 0/1 column each, written into `into`."""
    octets = column.to_numpy().astype("<u8").view(np.uint8).reshape(-1, 8)
    into[:] = np.unpackbits(octets, axis=1, bitorder="little")[:, :width]


def _centred(column: str, width: int) -> pl.Expr:
    return pl.col(column).rolling_mean(2 * width + 1, center=True, min_samples=1).over("page")


def features(blocks: pl.DataFrame, room: int = 0) -> np.ndarray:
    """What the first model reads of each block: a float32 row per block, in a fixed column order, then `room`
    columns left for `context` (filled in place: no copy of the matrix for the second model)."""
    text = pl.col("text")
    frame = blocks.with_columns(
        words=text.str.count_matches(r"\w+").cast(pl.Float32),
        chars=text.str.len_chars().cast(pl.Float32),
        punctuation=text.str.count_matches(r"[.!?;:,]").cast(pl.Float32),
        digits=text.str.count_matches(r"\d").cast(pl.Float32),
        capitals=text.str.count_matches(r"\p{Lu}").cast(pl.Float32),
        position=pl.int_range(pl.len()).over("page") / pl.len().over("page"),
        blocks=pl.len().over("page").cast(pl.Float32).log1p(),
    ).with_columns(
        log_words=pl.col("words").log1p(),
        link_density=(pl.col("link_chars") / pl.col("chars")).clip(0, 1),
        per_word=pl.col("punctuation") / pl.col("words").clip(1),
        ends_sentence=text.str.contains(r"[.!?:\"'”)]$").cast(pl.Float32),
        digit_share=pl.col("digits") / pl.col("chars"),
        capital_share=pl.col("capitals") / pl.col("chars"),
        chars_before=(pl.col("chars").cum_sum() - pl.col("chars")).over("page") / pl.col("chars").sum().over("page"),
        page_chars=pl.col("chars").sum().over("page").log1p(),
    )
    for level in ("parent", "grandparent"):
        group = ["page", level]
        frame = frame.with_columns(
            pl.len().over(group).cast(pl.Float32).log1p().alias(f"{level}_blocks"),
            pl.col("link_density").mean().over(group).alias(f"{level}_links"),
            pl.col("words").sum().over(group).log1p().alias(f"{level}_words"),
            pl.col("per_word").mean().over(group).alias(f"{level}_punctuation"),
        )
    own = ["log_words", "link_density", "per_word", "ends_sentence"]
    frame = frame.with_columns(
        *(pl.col(c).shift(k).over("page").fill_null(0).alias(f"{c}_{k}") for k in (-2, -1, 1, 2) for c in own),
        *(_centred(c, w).alias(f"{c}_around_{w}") for w in (3, 5, 15) for c in ("log_words", "link_density")),
        *(text.str.contains(f"(?i){sign}").cast(pl.Float32).alias(f"sign_{i}") for i, sign in enumerate(TEXT_SIGNS)),
    )
    numeric = frame.drop(
        "page", "text", "parent", "grandparent", "near_tags", "far_tags", "near_words", "far_words", "link_chars"
    )
    widths = [len(TAGS), len(TAGS), len(WORDS), len(WORDS)]
    x = np.empty((frame.height, numeric.width + sum(widths) + room), dtype=np.float32)  # one matrix, filled in place
    x[:, : numeric.width] = numeric.cast(pl.Float32).to_numpy()
    start = numeric.width
    for column, width in zip(("near_tags", "far_tags", "near_words", "far_words"), widths, strict=True):
        _bits(frame[column], width, x[:, start : start + width])
        start += width
    return x


def context(blocks: pl.DataFrame, first: np.ndarray) -> np.ndarray:
    """What the second model reads beside `features`: the first model's probabilities around each block."""
    confident = pl.col("p") >= THRESHOLD
    index = pl.int_range(pl.len()).over("page")
    words = pl.col("text").str.count_matches(r"\w+").cast(pl.Float64)
    frame = blocks.select("page", "text", "parent").with_columns(p=pl.Series(first, dtype=pl.Float64))
    frame = frame.with_columns(index=index, words=words, confident=confident).with_columns(
        *(_centred("p", w).alias(f"p_around_{w}") for w in (1, 3, 10)),
        confident_before=(pl.col("words") * pl.col("confident")).cum_sum().over("page")
        / (pl.col("words") * pl.col("confident")).sum().over("page").clip(1),
        after_first=(pl.col("index") >= pl.col("index").filter("confident").min().over("page")).fill_null(False),
        before_last=(pl.col("index") <= pl.col("index").filter("confident").max().over("page")).fill_null(False),
        page_max=pl.col("p").max().over("page"),
        page_mean=(pl.col("p") * pl.col("words")).sum().over("page") / pl.col("words").sum().over("page").clip(1),
        confident_words=(pl.col("words") * pl.col("confident")).sum().over("page").log1p(),
        gap=pl.min_horizontal(
            pl.col("index") - pl.when("confident").then("index").forward_fill().over("page"),
            pl.when("confident").then("index").backward_fill().over("page") - pl.col("index"),
        )
        .fill_null(pl.len().over("page"))
        .cast(pl.Float64)
        .log1p(),
        parent_p=pl.col("p").mean().over("page", "parent"),
    )
    return frame.drop("page", "text", "parent", "index", "words", "confident").cast(pl.Float32).to_numpy()


@cache
def models() -> tuple[lightgbm.Booster, lightgbm.Booster]:
    booster = _lightgbm().Booster
    return tuple(booster(model_file=MODELS / f"stage{n}.txt") for n in (1, 2))


def _lightgbm() -> ModuleType:
    """LightGBM without scikit-learn: its compat module imports scikit-learn when installed (1.3 s in every worker)
    for estimator classes that the Booster does not use, and takes an ImportError to mean it is absent."""
    blocked = "sklearn" not in sys.modules
    if blocked:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # `import sklearn` raises ImportError
    try:
        import lightgbm
    finally:
        if blocked:
            del sys.modules["sklearn"]
    return lightgbm


def probabilities(blocks: pl.DataFrame) -> np.ndarray:
    """The second model's probability that each block is main content."""
    if blocks.is_empty():
        return np.zeros(0)
    first_model, second_model = models()
    x = features(blocks, room=CONTEXT_COLUMNS)
    first = first_model.predict(x, num_threads=1, predict_disable_shape_check=True)  # it reads its own columns
    x[:, -CONTEXT_COLUMNS:] = context(blocks, first)
    return second_model.predict(x, num_threads=1)


def main_texts(blocks: pl.DataFrame, pages: int) -> list[str | None]:
    """Each page's content blocks, a line each (None: no block is content)."""
    kept = (
        blocks.select("page", "text")
        .filter(pl.Series(probabilities(blocks) >= THRESHOLD))
        .group_by("page", maintain_order=True)
        .agg(pl.col("text").str.join("\n"))
    )
    texts: list[str | None] = [None] * pages
    for page, text in kept.iter_rows():
        texts[page] = text
    return texts
