"""The recipe: one typed model, validated once when loaded (`refinery.recipe.load`), then passed down. Each
step's section is that step's own configuration model; this module gathers them and reads no file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from refinery.clean.config import Clean, Decontaminate, Quality
from refinery.config import Flag, Strict
from refinery.dedup.config import Dedup
from refinery.hashing import recipe_hash
from refinery.ingest.config import Source
from refinery.ingest.formats import FIELDED
from refinery.storage import is_uri
from refinery.validate.config import Validate


class Tokens(Strict):
    """Per-document token counts (`n_tokens`) with a named tokenizer, stored in the version."""

    tokenizer: str | None = None  # a Hugging Face tokenizer.json, relative to the recipe; none: one trained
    vocab_size: int = Field(16_384, ge=256, le=1 << 20)  # of the trained one


class Tokenized(Strict):
    """Packed, shuffled token shards per split (`refinery/publish/packed.py`), tokenized with `publish.tokens`'s
    tokenizer, which must hold the end-of-document token `<|endoftext|>` (a trained one does)."""

    format: Literal["nanotron"] = "nanotron"  # datatrove's .ds shards, which nanotron trains from
    seed: int = 0  # the shuffle of the documents


class Ablation(Strict):
    """At publish, the same small model trained on the refined text and on the run's ore, on `eval` (`refinery
    ablate`): with it, quality_assured requires the refined side to win with its interval apart."""

    eval: list[str] = Field(min_length=1)  # globs of evaluation text (JSON lines, Parquet or text), per recipe
    field: str = "text"
    tokens: int | None = Field(None, ge=100)  # a side's budget; default: half the smaller side
    seeds: int = Field(3, ge=2)


class Publish(Strict):
    keep: int = Field(10, ge=1)
    # snapshot: a version is the refined dataset of the ore present when it ran; documents whose ore is gone leave.
    # append: ore arrives in drops and is deleted after use; the previous version's documents are carried forward.
    mode: Literal["snapshot", "append"] = "snapshot"
    min_refined: int = Field(1, ge=0)  # the gate refuses a version with fewer refined documents
    max_drop: float | None = Field(0.5, ge=0, le=1)  # ... or one that lost more than this share of its parent's
    shared: Flag = False  # true in every recipe that publishes this dataset to this output: they take turns at LATEST
    tokens: Tokens | None = None  # count tokens per document (`n_tokens`), totals in the manifest
    tokenized: Tokenized | None = None  # packed token shards per split in the version (needs `tokens`)
    ablation: Ablation | None = None  # refined against the run's ore on a model, as readiness evidence

    @model_validator(mode="after")
    def _tokenized_needs_a_tokenizer(self) -> Publish:
        if self.tokenized and not self.tokens:
            raise ValueError("publish.tokenized packs tokens with publish.tokens' tokenizer: set publish.tokens too")
        return self


class Splits(Strict):
    """Named shares of the refined documents (`splits: {train: 0.98, validation: 0.01, test: 0.01, seed: 0}`): a
    document's split follows from its `doc_id` and the seed alone, so it keeps its split in every later version."""

    shares: dict[str, float]
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        """The recipe writes the shares and the seed side by side."""
        if isinstance(data, dict) and "shares" not in data:
            return {"shares": {k: v for k, v in data.items() if k != "seed"}, "seed": data.get("seed", 0)}
        return data

    @field_validator("shares")
    @classmethod
    def _shares(cls, shares: dict[str, float]) -> dict[str, float]:
        if not shares:
            raise ValueError("name at least one split")
        for name, share in shares.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not 0 < share <= 1:
                raise ValueError(f"{name}: {share}: a split is a lowercase name with a share in (0, 1]")
        if abs(sum(shares.values()) - 1) > 1e-9:
            raise ValueError(f"the shares add up to {sum(shares.values())}, not 1")
        return shares


class Automation(Strict):
    schedule: str | None = None  # cron string: a Dagster schedule refines on it, running by default
    on_new_ore: Flag = False  # the ore sensor refines every change of the ore (added, edited, deleted files)
    observe_every: int = Field(300, ge=5)  # seconds between the ore sensor's observations (stale assets in the UI)


class Recipe(Strict):
    dataset: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=100)  # a folder, with room for versions
    output: str = "data/refined"
    description: str = ""
    automation: Automation = Automation()
    sources: list[Source] = Field(min_length=1)
    dedup: Dedup = Dedup()
    clean: Clean = Clean()
    decontaminate: Decontaminate | None = None  # remove documents sharing an n-gram with evaluation sets
    quality: Quality | None = None  # a learned quality score (`quality_score`) and a filter on it
    validate_: Validate = Field(Validate(), alias="validate")
    publish: Publish = Publish()
    splits: Splits | None = None  # train/validation/test by identity: a `split` column in every version
    ore_roots: list[str] = ["."]  # folders ore may come from, relative to the recipe's folder or absolute
    # a glob of drop folders (or files), each ingested once as a partition; source paths are then globs
    # inside each drop folder (for drop files: patterns their names must match)
    drops: str | None = None
    base_dir: Path = Field(Path("."), exclude=True)
    origin: str | None = Field(None, exclude=True)  # the recipe file, when loaded from one

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {dupes}")
        return sources

    @model_validator(mode="after")
    def _fields_fit_formats(self) -> Recipe:
        for s in self.sources:
            if s.format not in FIELDED and (s.id_field or s.html_field):
                raise ValueError(f"source {s.name!r}: id_field/html_field apply to {', '.join(sorted(FIELDED))} only")
            if s.remote and self.drops is not None:
                raise ValueError(f"source {s.name!r}: drops are local folders; a source with drops has a local glob")
        return self

    @property
    def roots(self) -> list[Path]:
        return [(self.base_dir / r).resolve() for r in self.ore_roots]

    @property
    def builds_on_previous(self) -> bool:
        """Whether a run's data depends on LATEST (deduplicated against it, or appended to it), so it may only be
        published on top of the version it was built on."""
        return self.dedup.against_previous or self.publish.mode == "append"

    @property
    def remote_output(self) -> bool:
        """Whether versions are published to objects named by a URI (`s3://bucket/refined`)."""
        return is_uri(self.output)

    @property
    def output_dir(self) -> Path:
        """Where versions are assembled and committed on this machine: the output folder, or, for an output URI,
        a local folder beside the recipe from which each committed version is uploaded."""
        if self.remote_output:
            return (self.base_dir / ".refinery-publish").resolve()
        out = Path(self.output)
        return out if out.is_absolute() else (self.base_dir / out).resolve()

    @property
    def output_root(self) -> str | Path:
        """Where readers find the published versions."""
        return self.output if self.remote_output else self.output_dir

    def resolved(self) -> dict:
        """The recipe as it will run, defaults filled in: what the manifest records and hashes."""
        return self.model_dump(mode="json", by_alias=True)

    @property
    def hash(self) -> str:
        return recipe_hash(self.resolved())


def slug(name: str) -> str:
    """A name usable as a Dagster asset-key component or job name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
