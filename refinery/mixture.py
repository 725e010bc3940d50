"""Mixtures: published versions, each pinned by its id, fed to data-parallel training as one stream in exact
proportions. A mix file names them with weights (shares of documents):

    root: ../refined            # the store, relative to the mix file
    seed: 0
    split: train                # optional: the same split of every version
    parts:
      - {version: forum-en@20261206T115511Z-752461a1, weight: 0.7}
      - {version: web-en@20261206T115316Z-59fde74c, weight: 0.3}

Every rank takes, from each part, its rows of that version's loader (equal per rank, seeded, per epoch); the
epoch ends when the first part runs out, so part i gives exactly floor(n * w_i) rows, n the largest total the
weights allow. The parts' rows are interleaved in a seeded order, each row naming its part (`mixture_part`), and
`manifest()` records what was mixed: versions, content hashes, weights and rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from pydantic import Field, ValidationError

from refinery.catalog import Catalog, Version
from refinery.config import Strict
from refinery.errors import RecipeError


class Part(Strict):
    version: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")  # dataset@version id: pinned, never "latest"
    weight: float = Field(gt=0)


class MixFile(Strict):
    root: str
    seed: int = 0
    split: str | None = None
    parts: list[Part] = Field(min_length=1)


class Mixture:
    def __init__(self, versions: list[Version], weights: list[float], seed: int = 0, split: str | None = None):
        total = sum(weights)
        self.versions, self.weights, self.seed, self.split = versions, [w / total for w in weights], seed, split

    @classmethod
    def load(cls, path: Path) -> Mixture:
        """The mix file's versions, each checked (files present at their sizes, hash chain); `latest` refused."""
        try:
            mix = MixFile.model_validate(yaml.safe_load(Path(path).read_text()))
        except (OSError, yaml.YAMLError, ValidationError) as err:
            raise RecipeError(f"{path}: not a mix file: {err}") from None
        catalog = Catalog(Path(path).parent / mix.root)
        versions = []
        for part in mix.parts:
            dataset, version = part.version.split("@")
            if version == "latest":
                raise RecipeError(f"{path}: {part.version}: a mixture pins each version by its id")
            versions.append(catalog.version(dataset, version))
            versions[-1].check()
        return cls(versions, [p.weight for p in mix.parts], mix.seed, mix.split)

    def rows(self, world_size: int = 1) -> list[int]:
        """Rows each rank takes from each part per epoch: the exact shares of the largest total the parts allow."""
        available = [self._count(v) // world_size for v in self.versions]  # a rank's share of each part
        total = min(a / w for a, w in zip(available, self.weights, strict=True))
        return [int(np.floor(total * w + 1e-9)) for w in self.weights]

    def _count(self, version: Version) -> int:
        counts = version.manifest["counts"]
        return counts["splits"][self.split] if self.split else counts["refined"]

    def manifest(self, world_size: int = 1) -> dict:
        """What is mixed: each version with its content hash, weight and rows per rank per epoch."""
        return {
            "seed": self.seed,
            "split": self.split,
            "world_size": world_size,
            "parts": [
                {
                    "version": f"{v.dataset}@{v.id}",
                    "content_hash": v.manifest["content_hash"],
                    "weight": w,
                    "rows_per_rank": n,
                }
                for v, w, n in zip(self.versions, self.weights, self.rows(world_size), strict=True)
            ],
        }

    def loader(
        self,
        rank: int = 0,
        world_size: int = 1,
        epoch: int = 0,
        batch_size: int = 1024,
        columns: list[str] | None = None,
    ) -> Iterator[pl.DataFrame]:
        """Batches of this rank's mixed rows for `epoch`: the columns all parts share (or `columns`), and
        `mixture_part` (dataset@version)."""
        schemas = [v.scan().collect_schema() for v in self.versions]
        shared = columns or [c for c in schemas[0] if all(c in s for s in schemas[1:])]
        streams = [
            _Rows(
                v.loader(self.split, rank=rank, world_size=world_size, seed=self.seed, epoch=epoch, columns=shared),
                pl.DataFrame(schema={c: schemas[i][c] for c in shared}),
            )
            for i, v in enumerate(self.versions)
        ]
        counts = self.rows(world_size)
        order = np.random.default_rng([self.seed, epoch, rank]).permutation(np.repeat(np.arange(len(counts)), counts))
        names = [f"{v.dataset}@{v.id}" for v in self.versions]
        for start in range(0, len(order), batch_size):
            labels = order[start : start + batch_size]
            taken = [
                stream.take(int((labels == i).sum())).with_columns(mixture_part=pl.lit(names[i]))
                for i, stream in enumerate(streams)
            ]
            # the k-th label of part i in the batch is that part's k-th row taken
            rank_in_part = np.zeros(len(labels), dtype=np.int64)
            for i in range(len(streams)):
                rank_in_part[labels == i] = np.arange(taken[i].height)
            offsets = np.cumsum([0] + [t.height for t in taken])[:-1]
            yield pl.concat(taken)[offsets[labels] + rank_in_part]


class _Rows:
    """A loader's batches as a supply of rows: `take(n)` returns the next n (`empty`: the frame of none)."""

    def __init__(self, batches: Iterator[pl.DataFrame], empty: pl.DataFrame) -> None:
        self.batches, self.buffer = iter(batches), empty

    def take(self, n: int) -> pl.DataFrame:
        parts = [self.buffer.head(n)]
        self.buffer = self.buffer.slice(parts[0].height)
        while sum(p.height for p in parts) < n:
            self.buffer = next(self.batches)
            parts.append(self.buffer.head(n - sum(p.height for p in parts)))
            self.buffer = self.buffer.slice(parts[-1].height)
        return pl.concat(parts)
