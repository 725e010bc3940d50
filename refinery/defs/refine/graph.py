"""What every part of a recipe's asset graph shares: its keys, group and code versions."""

import hashlib
import json
from dataclasses import dataclass

import dagster as dg

from refinery.defs.refine.handles import Staged
from refinery.hashing import source_hash
from refinery.recipe import Recipe, slug

OWNER = "team:data-platform"


@dataclass(frozen=True)
class Graph:
    recipe: Recipe

    @property
    def group(self) -> str:
        return slug(self.recipe.dataset)

    @property
    def drops(self) -> dg.DynamicPartitionsDefinition | None:
        """One partition per drop, when the recipe has `drops:`."""
        return dg.DynamicPartitionsDefinition(name=f"{self.group}_drops") if self.recipe.drops else None

    @property
    def run_tags(self) -> dict[str, str]:
        return {"refinery/dataset": self.group}

    @property
    def pool(self) -> str:
        """Every asset of the dataset is in its pool, so the queue starts one run of a dataset at a time however it
        was launched (a job, "Materialize all", a backfill): pools are held per run (`dagster.yaml`)."""
        return f"refinery_{self.group}"

    def key(self, *parts: str) -> dg.AssetKey:
        return dg.AssetKey([self.group, *parts])

    def ore(self, source: str) -> dg.AssetKey:
        """A source's ore, `<dataset>/ore_<source>`: the UI labels a node by its key's last part, so the ore and
        the ingested records of a source get names of their own."""
        return self.key(f"ore_{source}")

    def ingested(self, source: str) -> dg.AssetKey:
        return self.key(f"ingested_{source}")

    @staticmethod
    def code_version(*parts: object) -> str:
        """The code that runs (a hash of the package's source) and the recipe section a step reads: either
        changing marks the asset stale in the UI."""
        payload = json.dumps([source_hash(), *parts], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def content_version(*staged: Staged) -> dg.DataVersion:
    """A stage's data version: the sha256 of what it wrote (deterministic bytes), so equal outputs share it."""
    digest = hashlib.sha256()
    for file in staged:
        digest.update(file.sha256.encode())
    return dg.DataVersion(digest.hexdigest()[:16])
