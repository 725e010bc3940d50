"""Web archives: WARC files (each HTTP `response` record is a page, its HTML extracted like `html` ore) and WET
files (each `conversion` record is a page's text, as Common Crawl publishes it). Read with FastWARC, streamed,
gzip- or zstd-compressed; a record keeps its URL (`WARC-Target-URI`) and WARC id, and its number in the file
stands where other formats put a line. A response that is not HTML is quarantined as `not_text`.

Counted apart by a framing parser of its own: header lines up to a blank line, then `Content-Length` bytes
skipped, record after record, counting those of the wanted type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from fastwarc.warc import ArchiveIterator, WarcRecordType

from refinery.ingest.encoding import open_bytes
from refinery.ingest.formats.base import BATCH_BYTES, BATCH_RECORDS, Format, raw
from refinery.ingest.ranges import Span

if TYPE_CHECKING:
    from refinery.ingest.config import Source

SKIP = 1 << 20  # bytes of a record's content skipped at a time by the counter


def _records(path: Path, wanted: WarcRecordType) -> Iterator[tuple[int, object]]:
    with open_bytes(path) as fh:
        if not fh.read(5).startswith(b"WARC/"):
            raise ValueError("not a WARC file: it does not start with a WARC/ version line")
    with open_bytes(path) as fh:
        # FastWARC reads the stream refinery decompressed (gzip, zstd); parse_http only where the payload is HTTP
        yield from enumerate(ArchiveIterator(fh, record_types=wanted, parse_http=wanted == WarcRecordType.response), 1)


def _batches(rows: Iterator[dict]) -> Iterator:
    """Records a batch at a time, a batch holding at most BATCH_RECORDS records and BATCH_BYTES characters."""
    batch: dict[str, list] = {k: [] for k in ("text", "native_id", "url", "line", "reason", "detail")}
    held = 0
    for row in rows:
        for key, value in row.items():
            batch[key].append(value)
        held += len(row["text"] or "")
        if len(batch["line"]) >= BATCH_RECORDS or held >= BATCH_BYTES:
            yield raw(**batch)
            batch, held = {k: [] for k in batch}, 0
    if batch["line"]:
        yield raw(**batch)


def _decoded(payload: bytes, charset: str | None) -> tuple[str | None, str | None, str | None]:
    """(text, reason, detail): the payload in its declared charset (else UTF-8); bytes that do not decode are
    `bad_encoding`, never replaced."""
    try:
        return payload.decode(charset or "utf-8"), None, None
    except (UnicodeDecodeError, LookupError) as err:
        return None, "bad_encoding", f"{charset or 'utf-8'}: {err}"[:300]


def read_warc(path: Path, source: Source) -> Iterator:
    def rows() -> Iterator[dict]:
        for number, record in _records(path, WarcRecordType.response):
            found = {"native_id": record.record_id, "url": record.headers.get("WARC-Target-URI"), "line": number}
            kind = (record.http_content_type or "").lower()
            if "html" not in kind:
                yield {**found, "text": None, "reason": "not_text", "detail": f"a response of type {kind or '?'}"}
                continue
            text, reason, detail = _decoded(record.reader.read(), record.http_charset)
            yield {**found, "text": text, "reason": reason, "detail": detail}

    return _batches(rows())


def read_wet(path: Path, source: Source) -> Iterator:
    def rows() -> Iterator[dict]:
        for number, record in _records(path, WarcRecordType.conversion):
            text, reason, detail = _decoded(record.reader.read(), "utf-8")
            url = record.headers.get("WARC-Target-URI")
            yield {
                "native_id": record.record_id,
                "url": url,
                "line": number,
                "text": text,
                "reason": reason,
                "detail": detail,
            }

    return _batches(rows())


def _count(path: Path, wanted: bytes) -> int:
    """Records whose `WARC-Type` is `wanted`, by the framing alone."""
    found = 0
    with open_bytes(path) as fh:
        while line := fh.readline():
            if not line.strip():
                continue  # the blank lines that end a record
            if not line.startswith(b"WARC/"):
                raise ValueError(f"not a WARC record header: {line[:40]!r}")
            headers = {}
            while (header := fh.readline()).strip():
                name, _, value = header.partition(b":")
                headers[name.strip().lower()] = value.strip()
            found += headers.get(b"warc-type") == wanted
            left = int(headers.get(b"content-length", b"0"))
            while left > 0 and (block := fh.read(min(SKIP, left))):
                left -= len(block)
    return found


def count_warc(path: Path, source: Source, span: Span | None = None) -> int:
    return _count(path, b"response")


def count_wet(path: Path, source: Source, span: Span | None = None) -> int:
    return _count(path, b"conversion")


WARC = Format(read_warc, count_warc, html=True)
WET = Format(read_wet, count_wet)
