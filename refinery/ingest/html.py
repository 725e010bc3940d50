"""Main-content extraction from HTML with trafilatura (boilerplate, menus and footers removed, not tag stripping)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    text: str | None
    title: str | None
    url: str | None


def extract_page(html: str) -> Page:
    """Main text, title and canonical URL of one page; `text` is None when no main content is found."""
    import trafilatura  # imported lazily: it pulls in lxml and friends

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, favor_precision=True)
    if doc is None or not (doc.text or "").strip():
        return Page(None, None, None)
    return Page(doc.text, doc.title or None, doc.url or None)
