"""Main-content extraction from HTML (boilerplate, menus and footers removed, not tag stripping): a classifier of the
page's text blocks (`blocks.py`), trafilatura with a second, fuller pass where precision finds little, or
resiliparse."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from refinery.mojibake import repaired

if TYPE_CHECKING:
    from refinery.ingest.config import Extraction

# the page's date is not kept: htmldate's extensive search (dateparser) would cost a third of the extraction
DATES = {"extensive_search": False, "original_date": False}


@dataclass(frozen=True)
class Page:
    text: str | None
    title: str | None
    url: str | None

    @property
    def length(self) -> int:
        return len(self.text or "")


# what extractors raise on hostile markup: such a page is quarantined as `extraction_failed`, the batch goes on
FAILURES = (ValueError, TypeError, LookupError, RecursionError)


PAGES_AT_ONCE = 64  # pages whose blocks the classifier reads at once (~17k blocks, a 15 MB feature matrix)


def extract_pages(htmls: list[str], how: Extraction) -> list[Page | Exception]:
    """`extract_page` over a batch: the block classifier segments PAGES_AT_ONCE pages and then classifies all their
    blocks at once; the other engines go a page at a time. A page the extractor raises on gives its exception."""
    if how.engine != "blocks":
        return [_guarded(html, how) for html in htmls]
    return [page for i in range(0, len(htmls), PAGES_AT_ONCE) for page in _classified(htmls[i : i + PAGES_AT_ONCE])]


def _classified(htmls: list[str]) -> list[Page | Exception]:
    from refinery.ingest.blocks import Segmented, main_texts, segment

    segmented, found = Segmented(), []
    for i, html in enumerate(htmls):
        try:
            found.append(segment(html, i, segmented))
        except FAILURES as err:
            found.append(err)
    texts = main_texts(segmented.frame(), len(htmls))
    return [
        meta if isinstance(meta, Exception) else Page(text, *meta) if text else Page(None, None, None)
        for meta, text in zip(found, texts, strict=True)
    ]


def _guarded(html: str, how: Extraction) -> Page | Exception:
    try:
        return extract_page(html, how)
    except FAILURES as err:
        return err


def extract_page(html: str, how: Extraction) -> Page:
    """Main text, title and canonical URL of one page; `text` is None when no main content is found."""
    if how.engine == "blocks":
        (page,) = extract_pages([html], how)
        if isinstance(page, Exception):
            raise page
        return page
    html = repaired(html)  # before extraction: extractors drop the C1 control characters ftfy needs
    if how.engine == "resiliparse":
        return _resiliparse(html)
    page = _trafilatura(html, how.favor, metadata=True)
    if how.favor == "precision" and page.length < how.fallback_below:
        fuller = _trafilatura(html, "balanced", metadata=False)  # the same title and URL: not looked for again
        if fuller.length > page.length:
            page = replace(page, text=fuller.text)
    return page if page.text else Page(None, None, None)


def _trafilatura(html: str, favor: str, metadata: bool) -> Page:
    import trafilatura  # imported lazily: it pulls in lxml and friends

    doc = trafilatura.bare_extraction(
        html,
        with_metadata=metadata,
        date_extraction_params=DATES,
        include_comments=False,
        favor_precision=favor == "precision",
        favor_recall=favor == "recall",
    )
    if doc is None:
        return Page(None, None, None)
    return Page(doc.text if (doc.text or "").strip() else None, doc.title or None, doc.url or None)


def _resiliparse(html: str) -> Page:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    text = extract_plain_text(tree, main_content=True, list_bullets=False, alt_texts=False)
    if not text.strip():
        return Page(None, None, None)
    canonical = tree.document.query_selector('link[rel="canonical"]') if tree.document else None
    return Page(text, tree.title or None, (canonical.getattr("href") if canonical else None) or None)
