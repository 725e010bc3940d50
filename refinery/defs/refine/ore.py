"""What the UI knows of the ore between runs: observations of each source's files, with a fingerprint as their
data version (what makes downstream assets stale) and how many files and bytes there are."""

import hashlib

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from refinery.ingest.readers import relative_uri
from refinery.recipe import Recipe, Source, ore_files
from refinery.storage import version


def ore_state(recipe: Recipe, source: Source, files: list | None = None) -> tuple[str, dict[str, int]]:
    """A cheap fingerprint of a source's files (path, size, mtime or ETag), which changes when ore is added, edited
    or deleted, and what an observation shows of them: how many files and bytes. `files`: the source's listing,
    when the caller has it already (listing a bucket costs requests)."""
    digest, size = hashlib.sha256(), 0
    files = ore_files(recipe, source) if files is None else files
    for path in files:
        stamp = version(path)
        digest.update(f"{relative_uri(path, recipe.base_dir)}\0{stamp}\n".encode())
        size += int(n) if (n := stamp.split("\0")[0]).isdigit() else 0  # an object store may not say
    return digest.hexdigest()[:16], {"files": len(files), "bytes": size}


def observation(key: dg.AssetKey, state: tuple[str, dict[str, int]]) -> dg.AssetObservation:
    fingerprint, metadata = state
    return dg.AssetObservation(key, tags={DATA_VERSION_TAG: fingerprint}, metadata=metadata)


def last_observed(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The data version of the ore's latest observation (by the ore sensor, a run's ingest, or an observe)."""
    records = instance.fetch_observations(key, limit=1).records
    return records[0].asset_observation.tags.get(DATA_VERSION_TAG) if records else None
