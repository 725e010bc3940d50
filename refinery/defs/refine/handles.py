"""What one asset hands the next: a typed handle naming the run's staged files, each with its sha256 and row
count, checked when the next step loads it.

A handle is small JSON (`io.py` stores it per run). When a step loads one, every file it names must still be
there with the bytes it had when written: a staged file deleted or rewritten in between (by hand, by a cleanup,
by another run) fails the step with the file named, instead of feeding other data on. The order of the staged
files that the gate judges and publishing copies is the model's (`Staging.staged`), not a convention.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from refinery.config import Strict
from refinery.hashing import sha256_file


class Staged(Strict):
    """A staged Parquet file, as its step wrote it."""

    path: Path
    sha256: str
    rows: int = Field(ge=0)

    @classmethod
    def of(cls, path: Path) -> Staged:
        return cls(path=path, sha256=sha256_file(path), rows=pq.ParquetFile(path).metadata.num_rows)

    def check(self, owner: str) -> None:
        if not self.path.is_file():
            raise dg.Failure(f"{owner}: staged file {self.path} is gone; materialize {owner} again")
        if sha256_file(self.path) != self.sha256:
            raise dg.Failure(
                f"{owner}: staged file {self.path} changed after it was written (sha256 {self.sha256[:12]}...); "
                f"materialize {owner} again"
            )


class Handle(Strict):
    """The common part of every handle: which kind it is (stored with it) and the check when loaded."""

    kind: ClassVar[str]

    def files(self) -> list[Staged]:
        return [value for name in type(self).model_fields for value in _staged(getattr(self, name))]

    def checked(self) -> Self:
        for staged in self.files():
            staged.check(self.kind)
        return self


class Ingested(Handle):
    """One source's (or one drop's) records and quarantine, with what the ore held, counted apart."""

    kind: ClassVar[str] = "ingested"
    records: Staged
    quarantine: Staged
    read: int = Field(ge=0)  # records in the ore, counted without the readers (accounting)
    ore: list[dict]  # source, path, bytes, sha256 of every file read whole
    engine: dict  # what ran the shards


class Staging(Handle):
    """Refined rows so far, every row removed so far (each with its reason), and the signatures."""

    records: Staged
    removed: list[Staged] = Field(min_length=1)
    signatures: Staged
    ingested: list[Path]  # the ingested (and identified) files this run read, kept by staging cleanup
    ore_records: list[Path] = Field(
        default_factory=list
    )  # the run's records as ingested: the ore's text before any refinement
    read: int = Field(ge=0)  # records in the ore, plus those carried forward
    ore: list[dict]
    built_on: str | None  # LATEST when the run began, for a recipe whose data builds on it
    stages: dict[str, dict]  # each stage's statistics and parameters, for the manifest and datacard
    engine: dict[str, dict]  # what ran each stage's shards

    @property
    def staged(self) -> list[Path]:
        """What the gate judges and publishing copies, in this order: refined, every removal, signatures."""
        return [self.records.path, *(r.path for r in self.removed), self.signatures.path]

    def then(self, records: Staged, removed: Staged, stage: str, stats: dict, engine: dict) -> dict:
        """The fields of the next stage's handle: its refined rows, one more removal, its stats and evidence."""
        return {
            **self.model_dump(exclude={"records", "removed", "stages", "engine"}),
            "records": records,
            "removed": [*self.removed, removed],
            "stages": {**self.stages, stage: stats},
            "engine": {**self.engine, stage: engine},
        }


class Deduplicated(Staging):
    kind: ClassVar[str] = "deduplicated"


class Cleaned(Staging):
    kind: ClassVar[str] = "cleaned"

    @property
    def gate_dir(self) -> Path:
        """Where the blocking checks' verdicts over these staged files go."""
        return self.records.path.parent / "gate"

    @property
    def validation_dir(self) -> Path:
        return self.records.path.parent / "validation"


KINDS: dict[str, type[Handle]] = {h.kind: h for h in (Ingested, Deduplicated, Cleaned)}


def to_json(handle: Handle) -> dict:
    return {"kind": handle.kind, **handle.model_dump(mode="json")}


def from_json(data: dict) -> Handle:
    """The handle stored, checked: every staged file there with its bytes."""
    return KINDS[data.pop("kind")].model_validate(data).checked()


def _staged(value: object) -> list[Staged]:
    if isinstance(value, Staged):
        return [value]
    return [v for v in value if isinstance(v, Staged)] if isinstance(value, list) else []
