"""One writer per dataset and output root: publishing, pinning and pruning take turns."""

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from refinery.errors import PublishError

LOCK_TIMEOUT = 600.0  # seconds a writer waits for another one of the same dataset


@contextmanager
def dataset_lock(dataset_dir: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Exclusive per dataset and output root; waits up to `timeout` for another writer, then fails clearly."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(dataset_dir / ".lock", "w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PublishError(
                        f"another run has been publishing {dataset_dir.name} for {timeout:.0f}s; retry later"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
