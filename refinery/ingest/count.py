"""How many records an ore file holds, counted without the reader that parses it: each format's counter lives
beside its reader (`formats/`). The accounting check compares these counts with refined + removed, so a reader
that loses or doubles a record is caught. A file that cannot be parsed at all counts as one record: the reader
quarantines it as one. The ingest shard counts the very bytes its reader read (for an object, the same copy: one
download).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pyarrow.lib import ArrowException

from refinery.ingest import formats
from refinery.ingest.config import Source
from refinery.ingest.encoding import BROKEN
from refinery.ingest.ranges import Span


def count_records(path: Path, source: Source, span: Span | None = None) -> int:
    """The records of a file (an object: of its copy on this node, the one the reader read), or of its range."""
    try:
        return formats.get(source.format).count(path, source, span)
    except pl.exceptions.NoDataError:
        return 0
    except (OSError, ValueError, pl.exceptions.PolarsError, ArrowException, *BROKEN):
        return 1
