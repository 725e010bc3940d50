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
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from refinery.mojibake import repaired

if TYPE_CHECKING:
    import lightgbm

MODELS = Path(__file__).with_name("blocks_model")
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
_TAG_BIT = {t: 1 << i for i, t in enumerate(TAGS)}
_WORD_BIT = {w: 1 << i for i, w in enumerate(WORDS)}
_NAME = re.compile(r"[a-z]+")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")  # lxml refuses a decoded string that declares an encoding
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

    def frame(self) -> pl.DataFrame:
        names = ("near_tags", "far_tags", "near_words", "far_words")
        schema = {
            n: pl.UInt64 if n in names else pl.String if n == "text" else pl.Int64 for n in self.__dataclass_fields__
        }
        return pl.DataFrame({name: getattr(self, name) for name in schema}, schema=schema)


@lru_cache(maxsize=1 << 16)  # bounded: generated class names (css-1x2y3z) are new on every site
def _word_bits(names: str) -> int:
    bits = 0
    for name in _NAME.findall(names.lower()):
        bits |= _WORD_BIT.get(name, 0) or _WORD_BIT.get(name.removesuffix("s"), 0)
    return bits


class _Block:
    __slots__ = ("depth", "index", "link", "names", "parent", "parts", "tag")

    def __init__(self, index: int, tag: str, depth: int, parent: _Block | None, names: tuple) -> None:
        self.index, self.tag, self.depth, self.parent, self.names = index, tag, depth, parent, names
        self.parts: list[str] = []
        self.link = 0


_NAMED = BLOCK_TAGS | set(TAGS)  # elements whose tag, class and id describe the blocks under them


def segment(html: str, page: int, into: Segmented, repair: bool = False) -> tuple[str | None, str | None]:
    """Append the page's non-empty blocks to `into`; return its title and canonical URL. With `repair` (the page
    shows mojibake), each block and the title are repaired by ftfy: a block costs far less than the page's HTML.

    One walk over the elements. A named element's frame holds its block, its own (tag bit, word bits), its
    parent's and grandparent's, and every ancestor's or-ed together; a block's near names are its own element's
    and its three nearest named ancestors', its far names every ancestor's. Other elements share their parent's
    frame."""
    from lxml import etree

    parser = etree.HTMLParser(remove_comments=True, remove_pis=True)
    root = etree.fromstring(_DECLARATION.sub("", html, count=1), parser)
    if root is None:
        return None, None
    title = root.findtext(".//title")
    canonical = root.find(".//link[@rel='canonical']")
    url = canonical.get("href") if canonical is not None else None
    etree.strip_elements(root, *DROPPED, with_tail=False)
    body = _Block(0, "body", 0, None, (0, 0, 0, 0))
    blocks, stack, links = [body], [(body, 0, 0, 0, 0, 0, 0, 0, 0)], 0
    push, pop, named, block_tags, tag_bit = stack.append, stack.pop, _NAMED, BLOCK_TAGS, _TAG_BIT.get
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag
        if event == "start":
            frame = parent = stack[-1]
            if tag in named:
                t = tag_bit(tag, 0)
                get = element.get
                names = get("class"), get("id")
                w = _word_bits(f"{names[0]} {names[1]}") if names[0] or names[1] else 0
                block = parent[0]
                if tag in block_tags:
                    near = (t | parent[1] | parent[3] | parent[5], parent[7] | t)
                    near += (w | parent[2] | parent[4] | parent[6], parent[8] | w)
                    block = _Block(len(blocks), tag, len(stack), parent[0], near)
                    blocks.append(block)
                frame = (block, t, w, parent[1], parent[2], parent[3], parent[4], parent[7] | t, parent[8] | w)
            push(frame)
            if tag == "a":
                links += 1
            text = element.text
        else:
            pop()
            if tag == "a":
                links -= 1
            text = element.tail
            frame = stack[-1]
        if text and not text.isspace():
            frame[0].parts.append(text)
            if links:
                frame[0].link += len(text)
    _append(blocks, page, into, repair)
    if title and repair:
        title = repaired(title)
    return (" ".join(title.split()) or None) if title else None, url or None


def _append(blocks: list[_Block], page: int, into: Segmented, repair: bool) -> None:
    """The blocks that hold text; `parent` and `grandparent` are indices among all the page's blocks."""
    for block in blocks:
        if not block.parts:
            continue
        text = " ".join(block.parts)
        text = " ".join((repaired(text) if repair else text).split())
        parent = block.parent
        into.page.append(page)
        into.text.append(text)
        into.tag.append(TAGS.index(block.tag) if block.tag in _TAG_BIT else len(TAGS))
        into.depth.append(block.depth)
        into.parent.append(parent.index if parent else -1)
        into.grandparent.append(parent.parent.index if parent and parent.parent else -1)
        into.link_chars.append(block.link)
        into.near_tags.append(block.names[0])
        into.far_tags.append(block.names[1])
        into.near_words.append(block.names[2])
        into.far_words.append(block.names[3])


def _bits(column: pl.Series, width: int, into: np.ndarray) -> None:
    """The column's first `width` bits, a 0/1 column each, written into `into`."""
    values = column.to_numpy().astype(np.uint64)
    np.bitwise_and(values[:, None] >> np.arange(width, dtype=np.uint64), np.uint64(1), out=into, casting="unsafe")


def _centred(column: str, width: int) -> pl.Expr:
    return pl.col(column).rolling_mean(2 * width + 1, center=True, min_samples=1).over("page")


def features(blocks: pl.DataFrame) -> np.ndarray:
    """What the first model reads of each block: a float32 row per block, in a fixed column order."""
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
    x = np.empty((frame.height, numeric.width + sum(widths)), dtype=np.float32)  # one matrix, filled in place
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
    import lightgbm

    return tuple(lightgbm.Booster(model_file=MODELS / f"stage{n}.txt") for n in (1, 2))


def probabilities(blocks: pl.DataFrame) -> np.ndarray:
    """The second model's probability that each block is main content."""
    if blocks.is_empty():
        return np.zeros(0)
    first_model, second_model = models()
    x = features(blocks)
    first = first_model.predict(x, num_threads=1)
    return second_model.predict(np.hstack([x, context(blocks, first)]), num_threads=1)


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
