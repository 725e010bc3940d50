"""Mixtures: published versions, each pinned by its id, fed to data-parallel training as one stream in exact
proportions. A mix file names them with weights (shares) or token budgets (tokens of the part per epoch):

    root: ../refined            # the store, relative to the mix file
    seed: 0
    split: train                # optional: the same split of every version
    parts:
      - {version: forum-en@20261206T115511Z-752461a1, weight: 0.7}
      - {version: web-en@20261206T115316Z-59fde74c, weight: 0.3}
      # or budgets, every part: {version: ..., tokens: 2000000}

Two streams, each equal per rank, seeded, new every epoch, with `manifest()` recording what was mixed (versions,
content hashes, weights or budgets, what each rank takes):
- `loader()`: documents. Part i gives each rank exactly its count of rows: with weights, floor(n * w_i), n the
  largest total the parts allow; with budgets, the budget's share of the rank counted at the part's mean document
  length (its manifest's tokens over its documents), so the rows are exact and their tokens the budget on average.
  Rows are interleaved in a seeded order, each naming its part (`mixture_part`).
- `sequences(seq_len)`: tokens, from each part's packed shard (`publish.tokenized`; one tokenizer for all parts),
  as windows of seq_len + 1 tokens, the windows nanotron trains on. Weights are shares of tokens; a budget is exact
  to the window (budget // (seq_len + 1) windows, shared equally by the ranks), and a budget beyond the shard
  repeats it, each pass in another seeded order (upsampling). Any window is found by its index alone: a trainer
  resumes with `start`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from pydantic import Field, ValidationError, model_validator

from refinery.catalog import Catalog, Version
from refinery.config import Strict
from refinery.errors import RecipeError


class Part(Strict):
    version: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")  # dataset@version id: pinned, never "latest"
    weight: float | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)  # a budget: tokens of this part per epoch

    @model_validator(mode="after")
    def _one_measure(self) -> Part:
        if (self.weight is None) == (self.tokens is None):
            raise ValueError(f"{self.version}: a part has a weight or a token budget (`tokens`), one of the two")
        return self


class MixFile(Strict):
    root: str
    seed: int = 0
    split: str | None = None
    parts: list[Part] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> MixFile:
        if len({p.weight is None for p in self.parts}) > 1:
            raise ValueError("the parts are all weighted or all budgeted in tokens, not some of each")
        return self


class Mixture:
    def __init__(
        self,
        versions: list[Version],
        weights: list[float] | None = None,
        *,
        tokens: list[int] | None = None,
        seed: int = 0,
        split: str | None = None,
    ) -> None:
        if (weights is None) == (tokens is None):
            raise ValueError("a mixture has weights or token budgets, one of the two")
        self.versions, self.budgets, self.seed, self.split = versions, tokens, seed, split
        self.weights = [w / sum(weights) for w in weights] if weights else None
        self.names = [f"{v.dataset}@{v.id}" for v in versions]

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
        budgets = [p.tokens for p in mix.parts if p.tokens is not None] or None
        weights = [p.weight for p in mix.parts if p.weight is not None] or None
        return cls(versions, weights, tokens=budgets, seed=mix.seed, split=mix.split)

    def rows(self, world_size: int = 1) -> list[int]:
        """Rows each rank takes from each part per epoch (the document loader)."""
        available = [self._documents(v) // world_size for v in self.versions]  # a rank's share of each part
        if self.weights:
            return _shares(available, self.weights)
        wanted = [
            int(budget * self._documents(v) / max(self._tokens(v), 1) / world_size)
            for v, budget in zip(self.versions, self.budgets, strict=True)
        ]
        for name, want, have in zip(self.names, wanted, available, strict=True):
            if want > have:
                raise RecipeError(
                    f"{name}: its token budget needs {want} documents a rank, and a rank has {have}: the document "
                    "loader does not repeat a part (the token stream, `sequences`, does)"
                )
        return wanted

    def windows(self, seq_len: int, world_size: int = 1) -> list[int]:
        """Windows of seq_len + 1 tokens each rank takes from each part per epoch (the token stream)."""
        if self.budgets:
            return [budget // (seq_len + 1) // world_size for budget in self.budgets]
        available = [self._tokens(v, packed=True) // (seq_len + 1) // world_size for v in self.versions]
        return _shares(available, self.weights)

    def _documents(self, version: Version) -> int:
        counts = version.manifest["counts"]
        return counts["splits"][self.split] if self.split else counts["refined"]

    def _tokens(self, version: Version, packed: bool = False) -> int:
        """The part's tokens (in its packed shard: with an end-of-document token after each document)."""
        if packed:
            shards = (version.manifest.get("tokenized") or {}).get("shards", {})
            if (self.split or "all") not in shards:
                raise RecipeError(f"{version.dataset}@{version.id} has no packed {self.split or 'all'!r} tokens")
            return shards[self.split or "all"]["tokens"]
        tokens = version.manifest.get("tokens")
        if not tokens:
            raise RecipeError(f"{version.dataset}@{version.id} has no token counts: a budget needs publish.tokens")
        return tokens["by_split"][self.split] if self.split else tokens["total"]

    def manifest(self, world_size: int = 1, seq_len: int | None = None) -> dict:
        """What is mixed: each version with its content hash, weight or budget, and what a rank takes per epoch:
        rows of the document loader, or (given `seq_len`) windows of the token stream and their tokens."""
        taken = self.windows(seq_len, world_size) if seq_len is not None else self.rows(world_size)
        parts = []
        for i, v in enumerate(self.versions):
            part = {"version": self.names[i], "content_hash": v.manifest["content_hash"]}
            part |= {"weight": self.weights[i]} if self.weights else {"tokens": self.budgets[i]}
            if seq_len is None:
                parts.append(part | {"rows_per_rank": taken[i]})
            else:
                parts.append(part | {"windows_per_rank": taken[i], "tokens_per_rank": taken[i] * (seq_len + 1)})
        return {"seed": self.seed, "split": self.split, "world_size": world_size, "seq_len": seq_len, "parts": parts}

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
        labels, _ = self._interleaved(self.rows(world_size), epoch, rank)
        for start in range(0, len(labels), batch_size):
            batch = labels[start : start + batch_size]
            taken = [
                stream.take(int((batch == i).sum())).with_columns(mixture_part=pl.lit(self.names[i]))
                for i, stream in enumerate(streams)
            ]
            # the k-th label of part i in the batch is that part's k-th row taken
            rank_in_part = np.zeros(len(batch), dtype=np.int64)
            for i in range(len(streams)):
                rank_in_part[batch == i] = np.arange(taken[i].height)
            offsets = np.cumsum([0] + [t.height for t in taken])[:-1]
            yield pl.concat(taken)[offsets[batch] + rank_in_part]

    def sequences(
        self, seq_len: int, rank: int = 0, world_size: int = 1, epoch: int = 0, start: int = 0
    ) -> Iterator[dict]:
        """This rank's windows for `epoch`, from the `start`-th on: `{"input_ids": seq_len + 1 token ids (int64),
        "mixture_part": dataset@version}`. Window k of part i on rank r is window r * c_i + k of the part's epoch
        order, c_i the part's windows per rank, so ranks never share a window within a pass."""
        digests = {(v.manifest.get("tokens") or {}).get("tokenizer_sha256") for v in self.versions}
        if len(digests) != 1 or None in digests:
            raise RecipeError("one token stream needs every part tokenized by the same tokenizer (publish.tokens)")
        counts = self.windows(seq_len, world_size)
        shards = [
            _Shard(v, self.split or "all", seq_len + 1, (self.seed, epoch, i)) for i, v in enumerate(self.versions)
        ]
        labels, rank_in_part = self._interleaved(counts, epoch, rank)
        for n in range(start, len(labels)):
            i = labels[n]
            ids = shards[i].window(rank * counts[i] + int(rank_in_part[n]))
            yield {"input_ids": ids.astype(np.int64), "mixture_part": self.names[i]}

    def _interleaved(self, counts: list[int], epoch: int, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded order of `counts[i]` labels i, and each label's place among its part's."""
        labels = np.random.default_rng([self.seed, epoch, rank]).permutation(np.repeat(np.arange(len(counts)), counts))
        rank_in_part = np.zeros(len(labels), dtype=np.int64)
        for i, count in enumerate(counts):
            rank_in_part[labels == i] = np.arange(count)
        return labels, rank_in_part


def _shares(available: list[int], weights: list[float]) -> list[int]:
    """floor(n * w_i) for the largest n that no part's `available` limits."""
    total = min(a / w for a, w in zip(available, weights, strict=True))
    return [int(np.floor(total * w + 1e-9)) for w in weights]


class _Shard:
    """A version's packed shard as windows of `size` tokens; window j is in pass j // count, each pass of the
    shard in its own seeded order."""

    def __init__(self, version: Version, split: str, size: int, key: tuple[int, int, int]) -> None:
        token_size = version.manifest["tokenized"]["shards"][split]["token_size"]
        self.tokens = np.memmap(version.packed(split), dtype=np.uint16 if token_size == 2 else np.uint32, mode="r")
        self.size, self.key, self.count = size, key, len(self.tokens) // size
        self.order: tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=np.int64))
        if self.count == 0:
            raise RecipeError(f"{version.dataset}@{version.id}: its {split!r} shard holds no window of {size} tokens")

    def window(self, j: int) -> np.ndarray:
        rotation, k = divmod(j, self.count)
        if self.order[0] != rotation:  # windows come pass by pass: one order at a time
            self.order = (rotation, np.random.default_rng([*self.key, rotation]).permutation(self.count))
        w = int(self.order[1][k])
        return np.asarray(self.tokens[w * self.size : (w + 1) * self.size])


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
