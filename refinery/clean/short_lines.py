"""FineWeb's short-line filter: a page made mostly of short lines (menus, link lists, tables of numbers) is not
prose. Off by default: Refinery's defaults are tuned on real forum posts, where short lines are replies' quoting
and signatures; switch it on for web pages."""

import polars as pl

from refinery.clean.bound import Bound, lines, share

SHORT_LINE_CHARS = 30  # FineWeb's short_line_length

SHORT_LINES = Bound(
    key="max_short_lines",
    signal="short_lines",
    default=None,
    source="FineWeb quality filter (short_line_thr 0.67, lines under 30 characters)",
    why="off: on forum posts, quoted replies and signatures are short lines of good documents",
    compute=lambda: share(lines(), pl.element().str.len_chars() < SHORT_LINE_CHARS),
)
