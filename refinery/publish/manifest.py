"""The manifest, a public contract: what a version holds and how to check it. Typed and versioned
(`schema_version`); its JSON Schema ships beside this module (`manifest.schema.json`) for readers in any
language. Publishing validates every manifest against this model before writing it.

Regenerate the shipped schema after changing the model: `python -m refinery.publish.manifest`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
HEX64 = r"^[0-9a-f]{64}$"


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceEntry(Closed):
    name: str
    format: str
    license: str | None


class OreEntry(Closed):
    """One ore file as read: where, how many bytes, their sha256."""

    source: str
    path: str
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=HEX64)


class FileEntry(Closed):
    """One file of the version, relative to its folder, with the checksum `verify` re-hashes."""

    path: str
    kind: Literal[
        "refined",
        "removed",
        "signatures",
        "datacard",
        "validation",
        "tokenizer",
        "tokenized",
        "croissant",
        "model",
        "ablation",
    ]
    rows: int | None = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=HEX64)


class CodeVersion(Closed):
    source_sha256: str = Field(pattern=HEX64)
    package: str
    git_commit: str | None


class Counts(Closed):
    read: int = Field(ge=0)
    refined: int = Field(ge=0)
    removed: dict[str, dict[str, int]]  # stage -> reason (and "total") -> records
    splits: dict[str, int] | None = None  # refined records per split, when the recipe has splits
    licenses: dict[str, int] | None = None  # refined records per licence ("None": no licence declared)


class Manifest(Closed):
    schema_version: Literal[1] = SCHEMA_VERSION
    dataset: str
    version: str = Field(pattern=r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
    created_at: str
    recipe: dict[str, Any]  # the resolved recipe
    recipe_hash: str = Field(pattern=HEX64)
    code_version: CodeVersion
    mode: Literal["snapshot", "append"]
    sources: list[SourceEntry]
    ore: list[OreEntry]
    counts: Counts
    accounting: dict[str, Any]  # the accounting verdict: expected, refined, removed, repeats, passed
    schema_: dict[str, str] = Field(alias="schema")  # column -> Polars type of the refined parts
    files: list[FileEntry]
    content_hash: str = Field(pattern=HEX64)
    version_hash: str = Field(pattern=HEX64)
    validation: dict[str, Any]  # the GX suite's summary and each expectation's outcome
    stages: dict[str, Any]  # per stage: parameters, removal counts, the engine that ran it
    parent: str | None
    release: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+$")  # semantic version (`release`)
    data_unchanged: bool
    dagster_run_id: str | None
    readiness: dict[str, Any]  # the level reached and the evidence for each
    tokens: dict[str, Any] | None = None  # tokens in total, by source, language and split; the tokenizer used
    tokenized: dict[str, Any] | None = None  # packed token shards per split (publish.tokenized): format, seed, sizes
    ablation: dict[str, Any] | None = None  # refined against the run's ore on a small model (publish.ablation)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def release(previous: dict | None, schema: dict[str, str], content: str) -> str:
    """The version's semantic version, from its parent's: MAJOR when a column of the parent is gone or changed its
    type (readers break), MINOR when columns were added or the data changed, PATCH when only the recipe or the code
    did. The first version (or the first after versions without one) is 1.0.0."""
    if not previous or not previous.get("release"):
        return "1.0.0"
    major, minor, patch = (int(n) for n in previous["release"].split("."))
    old = previous["schema"]
    if any(schema.get(column) != kind for column, kind in old.items()):
        return f"{major + 1}.0.0"
    if set(schema) != set(old) or content != previous["content_hash"]:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def checked(manifest: dict) -> dict:
    """The manifest as it will be written, validated against the model (a PublishError-worthy bug otherwise)."""
    return Manifest.model_validate(manifest).model_dump(mode="json", by_alias=True)


def json_schema() -> dict:
    return Manifest.model_json_schema(by_alias=True)


if __name__ == "__main__":
    SCHEMA_PATH.write_text(json.dumps(json_schema(), indent=2) + "\n")
