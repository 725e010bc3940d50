"""Main-content extraction from HTML (boilerplate, menus and footers removed, not tag stripping): trafilatura, with
a second, fuller pass where precision finds little, or resiliparse for speed."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from refinery.mojibake import MOJIBAKE, fix_mojibake

if TYPE_CHECKING:
    from refinery.ingest.config import Extraction

_MOJIBAKE = re.compile(MOJIBAKE)
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


def extract_page(html: str, how: Extraction) -> Page:
    """Main text, title and canonical URL of one page; `text` is None when no main content is found.

    Mojibake is repaired first: the extractor drops the C1 control characters that ftfy needs to undo it."""
    if _MOJIBAKE.search(html):
        html = fix_mojibake(html)
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
