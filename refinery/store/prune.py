"""Retention: all but the newest versions go; pinned versions and LATEST always stay. Call under the lock."""

from pathlib import Path

from refinery.storage import remove_tree
from refinery.store.layout import latest, pins, versions


def prune(dataset_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions (`keep=0`: only pinned ones and LATEST stay); returns their ids."""
    found = versions(dataset_dir)
    newest = set(found[len(found) - keep :]) if keep > 0 else set()
    protected = pins(dataset_dir) | {latest(dataset_dir)} | newest
    doomed = [v for v in found if v not in protected]
    for version in doomed:
        remove_tree(dataset_dir / version)
    return doomed
