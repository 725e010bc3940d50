"""Strings as the flat buffers compiled kernels walk."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa


def utf8_buffer(text: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a string column and each value's [start, end) offsets into them, without a copy per
    value."""
    arr = text.to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if len(arr) == 0 or offsets[-1] == offsets[0]:
        return np.zeros(1, np.uint8), np.zeros(len(arr) + 1, np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]
