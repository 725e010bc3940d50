"""The loader as a PyTorch `IterableDataset` (`Loader.to_torch()`): in a module of its own, so that reading a version
never imports torch, and at module level, so that worker processes started by spawn can unpickle it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING

from torch.utils.data import IterableDataset, get_worker_info

if TYPE_CHECKING:
    from refinery.loader import Loader


class LoaderDataset(IterableDataset):
    """Batches of one rank's rows, a dict of column lists each; a DataLoader worker reads its share of the units."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[dict]:
        worker, loader = get_worker_info(), self.loader
        if worker is not None:  # this worker's units only; the epoch restarts in each
            loader = copy.copy(loader)
            loader.part, loader.position = (worker.id, worker.num_workers), 0
        for batch in loader:
            yield batch.to_dict(as_series=False)
