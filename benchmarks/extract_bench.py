"""Main-content extraction on WCXB (2,008 real pages of seven kinds, 2025, CC-BY-4.0, with human-reviewed ground
truth): refinery's extraction settings against trafilatura called directly, in the same run, on the held-out test
split (the defaults were chosen, and the block classifier trained, on the development split). Word F1 as the
benchmark's own `evaluate.py` computes it, per page kind; boilerplate leak is the share of the benchmark's "without"
snippets found in the output; pages per second on one core (a page a call, or 64 for the block classifier, which
classifies a batch's blocks at once; the median of three passes), then through `ingest_source` on every core, from
a file a page and from WARC files, each page four times (filters off: extraction only).

    git clone https://github.com/Murrough-Foley/web-content-extraction-benchmark wcxb
    python benchmarks/extract_bench.py --wcxb wcxb [--split test] [--pages N] [--passes 3] [--copies 4]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from refinery.ingest import ingest_source
from refinery.ingest.config import Extraction, Source
from refinery.ingest.html import Page as Extracted
from refinery.ingest.html import extract_pages
from refinery.runtime.engine import Engine

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the tests' metric (refinery_tests.wcxb)
from refinery_tests.wcxb import word_f1


@dataclass(frozen=True)
class Page:
    id: str
    kind: str
    html_path: Path
    truth: str
    without: list[str]


def load(root: Path, split: str, limit: int | None) -> list[Page]:
    """The split's pages; for `test`, only those whose HTML is not also in `dev` (139 of its 511 are: the same
    bytes under the same id), so that nothing tuned on the development split is scored on it."""
    seen = {_digest(p) for p in (root / "dev" / "html").glob("*.html.gz")} if split == "test" else set()
    pages = []
    for path in sorted((root / split / "ground-truth").glob("*.json"))[:limit]:
        if _digest(root / split / "html" / f"{path.stem}.html.gz") in seen:
            continue
        data = json.loads(path.read_text())
        truth = data.get("ground_truth") or {}
        kind = ((data.get("_internal") or {}).get("page_type") or {}).get("primary", "article")
        html = root / split / "html" / f"{path.stem}.html.gz"
        pages.append(Page(path.stem, kind, html, truth.get("main_content") or "", truth.get("without") or []))
    return pages


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leak(predicted: str, snippets: list[str]) -> tuple[int, int]:
    text = predicted.lower()
    return sum(s.lower() in text for s in snippets), len(snippets)


def report(name: str, pages: list[Page], outputs: list[str], seconds: float, cores: int, copies: int = 1) -> None:
    scores = [word_f1(o, p.truth) for o, p in zip(outputs, pages, strict=True)]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for score, page in zip(scores, pages, strict=True):
        by_kind[page.kind].append(score)
    leaked = [leak(o, p.without) for o, p in zip(outputs, pages, strict=True)]
    share = sum(k for k, _ in leaked) / max(1, sum(n for _, n in leaked))
    kinds = " ".join(f"{k[:5]} {sum(v) / len(v):.3f}" for k, v in sorted(by_kind.items()))
    rate, empty = len(pages) * copies / seconds, sum(not o.strip() for o in outputs)
    print(
        f"{name:42s} F1 {sum(scores) / len(scores):.3f}  leak {share:.3f}  empty {empty:3d}"
        f"  {rate:6.1f} pages/s ({rate / cores:6.1f}/core)  | {kinds}",
        flush=True,
    )


Extract = Callable[[list[str]], list[str | None]]  # a batch of pages' HTML to their main texts


def one_core(pages: list[Page], extract: Extract, batch: int, passes: int) -> tuple[list[str], float]:
    """The outputs, and the median of `passes` timed passes over every page (one machine's noise is ~5%)."""
    htmls = [gzip.decompress(p.html_path.read_bytes()).decode("utf-8", "replace") for p in pages]
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        outputs = [text or "" for i in range(0, len(htmls), batch) for text in extract(htmls[i : i + batch])]
        seconds.append(time.perf_counter() - start)
    return outputs, statistics.median(seconds)


def trafilatura_direct(**options) -> Extract:
    import trafilatura

    return lambda htmls: [trafilatura.extract(html, include_comments=False, **options) for html in htmls]


def refinery(extraction: Extraction) -> Extract:
    return lambda htmls: [p.text if isinstance(p, Extracted) else None for p in extract_pages(htmls, extraction)]


def through_the_pipeline(
    pages: list[Page], workers: int, warc: bool = False, extraction: Extraction | None = None, copies: int = 1
) -> tuple[list[str], float]:
    """`ingest_source` with `extraction` (the default one when None), sharded over `workers` processes: over the
    gzipped pages, a file each, or over `workers` WARC files that hold the pages as HTTP responses (web ore as
    crawlers write it). Each page comes `copies` times, so that process start-up weighs as in a real run."""
    with tempfile.TemporaryDirectory() as tmp:
        ore = Path(tmp) / "ore"
        ore.mkdir()
        if warc:
            for n in range(workers):
                _write_warc(pages[n::workers] * copies, ore / f"pages-{n}.warc")
            source = Source(name="wcxb", format="warc", path="ore/*.warc", extraction=extraction or Extraction())
        else:
            for page, copy in itertools.product(pages, range(copies)):
                os.link(page.html_path, ore / f"{copy}-{page.html_path.name}")
            source = Source(name="wcxb", format="html", path="ore/*.html.gz", extraction=extraction or Extraction())
        files = sorted(ore.glob("*.warc" if warc else "*.html.gz"))
        start = time.perf_counter()
        result = ingest_source(source, Path(tmp), Path(tmp) / "out", files, Engine(workers=workers))
        seconds = time.perf_counter() - start
        page_id = pl.col("url" if warc else "source_uri").str.extract(r"(\d+)(\.html\.gz)?$")
        texts = dict(pl.read_parquet(result.records).select(page_id, "text").iter_rows())
    return [texts.get(p.id, "") for p in pages], seconds


def _write_warc(pages: list[Page], path: Path) -> None:
    from fastwarc.warc import WarcRecord, WarcRecordType

    with path.open("wb") as out:
        for page in pages:
            record = WarcRecord()
            record.init_headers(WarcRecordType.response)
            html = gzip.decompress(page.html_path.read_bytes())
            record.set_bytes_content(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + html)
            record.headers["WARC-Target-URI"] = f"https://wcxb.example/{page.id}"
            record.headers["Content-Type"] = "application/http; msgtype=response"
            record.write(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, required=True, help="a checkout of the benchmark")
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--passes", type=int, default=3, help="timed passes a one-core row; the median is shown")
    parser.add_argument("--copies", type=int, default=4, help="copies of each page through the pipeline")
    args = parser.parse_args()
    if not (args.wcxb / args.split / "ground-truth").is_dir():
        sys.exit(f"no WCXB checkout at {args.wcxb}")
    pages = load(args.wcxb, args.split, args.pages)
    print(f"WCXB {args.split}: {len(pages)} pages, {dict(Counter(p.kind for p in pages))}")
    rows: list[tuple[str, Extract, int]] = [
        ("trafilatura precision (baseline)", trafilatura_direct(favor_precision=True), 1),
        ("trafilatura default (baseline)", trafilatura_direct(), 1),
        ("trafilatura fast: no fallback (baseline)", trafilatura_direct(fast=True), 1),
        ("refinery default: blocks, a page a call", refinery(Extraction()), 1),
        ("refinery default: blocks, 64 a call", refinery(Extraction()), 64),
        ("refinery engine: trafilatura", refinery(Extraction(engine="trafilatura")), 1),
        ("refinery trafilatura, balanced", refinery(Extraction(engine="trafilatura", favor="balanced")), 1),
        ("refinery engine: resiliparse", refinery(Extraction(engine="resiliparse")), 1),
    ]
    for name, extract, batch in rows:
        outputs, seconds = one_core(pages, extract, batch, args.passes)
        report(name, pages, outputs, seconds, cores=1)
    workers = os.cpu_count() or 1
    pipeline = [
        ("trafilatura balanced (baseline)", True, Extraction(engine="trafilatura", favor="balanced")),
        ("refinery default", True, Extraction()),
        ("refinery default", False, Extraction()),
    ]
    for name, warc, extraction in pipeline:
        outputs, seconds = through_the_pipeline(pages, workers, warc, extraction, args.copies)
        name = f"{name}, ingest x{workers}, {'WARC' if warc else 'a file a page'}"
        report(name, pages, outputs, seconds, cores=workers, copies=args.copies)


if __name__ == "__main__":
    main()
