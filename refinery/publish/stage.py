"""Publication of a version, behind the gate: assembled here, committed by the store (`refinery.store`).

Nothing is written unless every blocking check passed for exactly the staged files (`gate.require_passed`) and
the refined count is plausible (`publish.min_refined`, `publish.max_drop`). The version is assembled in the
store's temporary folder (its parts written by the engine's shards, one per part, which report their checksums,
`manifest.json` last), then the store moves it into place and replaces `LATEST`, durably, under the dataset's
lock. Same data, recipe and code give the same version hash, and then no new version is made.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from refinery.errors import PublishError
from refinery.hashing import code_version, content_hash, manifest_signature, sha256_file, version_hash
from refinery.publish.croissant import croissant
from refinery.publish.datacard import render_datacard
from refinery.publish.derived import with_license, with_split
from refinery.publish.evidence import measure_elsewhere, read_datacard
from refinery.publish.gate import require_passed
from refinery.publish.manifest import SCHEMA_VERSION, checked, release
from refinery.publish.packed import pack
from refinery.publish.readiness import assess
from refinery.publish.tokens import token_totals, trained, with_tokens
from refinery.recipe import Recipe
from refinery.records import REMOVED_SCHEMA, ROW_GROUP_ROWS, RowGroupWriter
from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output
from refinery.runtime.shards import Where, run_sharded
from refinery.storage import root_path
from refinery.store.commit import move_into_place, remove_abandoned, set_latest, temporary
from refinery.store.layout import latest, manifest_of
from refinery.store.lock import dataset_lock
from refinery.store.remote import LatestMoved, adopt_latest, upload
from refinery.validate import ValidationReport

PART_ROWS = 500_000


@dataclass
class PublishInput:
    recipe: Recipe
    cleaned: Path
    removed: list[Path]  # quarantine, dedup and clean removals
    signatures: Path
    validation: ValidationReport
    validation_dir: Path
    gate_dir: Path  # the blocking checks' verdicts over exactly these staged files
    ore: list[dict]  # source, path, bytes, sha256
    stages: dict  # per-stage statistics and parameters, for the datacard
    run_id: str | None = None
    built_on: str | None = None  # LATEST when the run began, for a recipe whose data builds on it
    ore_records: list[Path] = field(default_factory=list)  # the run's records as ingested (publish.ablation)

    @property
    def staged(self) -> list[Path]:
        return [self.cleaned, *self.removed, self.signatures]


@dataclass
class PublishOutcome:
    path: Path
    version: str
    manifest: dict
    created: bool  # False when data, recipe and code equal LATEST's and no new version was made


Segment = tuple[int, int, int]  # rows [start, start + length) of the n-th staged file


def _part_plan(sources: list[Path], part_rows: int) -> list[tuple[int, list[Segment]]]:
    """The version's parts: the staged files' rows, in order, cut every `part_rows` rows; a part may span
    files. At least one part, so a version with no rows still has its schema."""
    sizes = [pq.ParquetFile(s).metadata.num_rows for s in sources]
    plan = []
    for number, start in enumerate(range(0, max(sum(sizes), 1), part_rows)):
        end, offset, segments = start + part_rows, 0, []
        for source, rows in enumerate(sizes):
            low, high = max(start, offset), min(end, offset + rows)
            if low < high:
                segments.append((source, low - offset, high - low))
            offset += rows
        plan.append((number, segments))
    return plan


Derive = Callable[[pl.DataFrame], pl.DataFrame]  # a column a version adds to the refined rows (split, n_tokens)


def _write_part(schema: dict[str, pl.DataType], derive: tuple[Derive, ...], where: Where, part: tuple) -> dict:
    """Part `number` of a version, written on a worker by streaming its segments, in row groups that depend on
    its rows alone (so any engine writes the same bytes), with the derived columns added; its rows, bytes and
    checksum come back, not the rows."""
    number, segments = part
    with output(where.part(f"part-{number:05d}.parquet")) as path:
        with RowGroupWriter(path, _derived(schema, derive)) as out:
            for source, start, rows in segments:
                for frame in (
                    pl.scan_parquet(where.inputs[source]).slice(start, rows).collect_batches(chunk_size=ROW_GROUP_ROWS)
                ):
                    frame = frame.select(pl.col(c).cast(t) for c, t in schema.items())
                    for add in derive:
                        frame = add(frame)
                    out.write(frame)
        rows = pq.ParquetFile(path).metadata.num_rows
        return {"rows": rows, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _derived(schema: dict[str, pl.DataType], derive: tuple[Derive, ...]) -> dict[str, pl.DataType]:
    empty = pl.DataFrame(schema=schema)
    for add in derive:
        empty = add(empty)
    return dict(empty.schema)


def _write_parts(
    sources: list[Path],
    folder: Path,
    schema: dict[str, pl.DataType] | None = None,
    engine: Engine | None = None,
    derive: tuple[Derive, ...] = (),
) -> list[dict]:
    """Copy rows into part-NNNNN.parquet files of at most PART_ROWS rows, one shard of the engine per part; each
    part's path with the rows, bytes and checksum its shard measured."""
    schema = schema or dict(pl.read_parquet_schema(sources[0]))
    plan = _part_plan(sources, PART_ROWS)
    step = partial(_write_part, schema, derive)
    written = run_sharded(step, plan, engine or Engine(), inputs=sources, parts=folder)
    return [
        {"path": folder / f"part-{number:05d}.parquet", **stats}
        for (number, _), stats in zip(plan, written, strict=True)
    ]


def _derivations(inp: PublishInput, tmp: Path) -> tuple[Derive, ...]:
    """The recipe's derived columns: each document's split, its tokens (the tokenizer stored in the version)."""
    recipe = inp.recipe
    derive: list[Derive] = [partial(with_license, {s.name: s.license for s in recipe.sources})]
    if recipe.splits:
        derive.append(partial(with_split, recipe.splits))
    if tokens := recipe.publish.tokens:
        named = tokens.tokenizer and (recipe.base_dir / tokens.tokenizer)
        tokenizer = named.read_text() if named else trained(inp.cleaned, tokens.vocab_size)
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "tokenizer.json").write_text(tokenizer)
        derive.append(partial(with_tokens, tokenizer))
    return tuple(derive)


def _part_entry(part: dict, root: Path, kind: str) -> dict:
    """A written part's manifest entry: its path in the version and what its shard measured."""
    return {"path": part["path"].relative_to(root).as_posix(), "kind": kind} | {
        k: part[k] for k in ("rows", "bytes", "sha256")
    }


def _file_entry(path: Path, root: Path, kind: str) -> dict:
    rows = pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else None
    return {
        "path": path.relative_to(root).as_posix(),
        "kind": kind,
        "rows": rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def _counts(refined: int, removed: list[Path], parts: list[Path]) -> dict:
    """Removed rows by stage and reason, and refined rows by split and licence, read back from the parts written
    (group-bys streamed over the files: a count each, not the rows, is held)."""
    by_stage: dict[str, dict[str, int]] = {}
    reasons = pl.scan_parquet(removed).group_by("stage", "reason").len().sort("stage", "reason")
    for stage, reason, n in reasons.collect(engine="streaming").iter_rows():
        by_stage.setdefault(stage, {"total": 0})[reason] = n
        by_stage[stage]["total"] += n
    read = refined + sum(stage["total"] for stage in by_stage.values())
    counts = {"read": read, "refined": refined, "removed": by_stage}
    derived = {c: k for c, k in (("split", "splits"), ("license", "licenses")) if c in pl.read_parquet_schema(parts[0])}
    for column, key in derived.items():
        values = pl.scan_parquet(parts).group_by(column).len().sort(column).collect(engine="streaming")
        counts[key] = {str(value): n for value, n in values.iter_rows()}
    return counts


def _check_volume(refined: int, parent: dict | None, recipe: Recipe) -> None:
    """No empty or collapsed surprise: the gate's last word, before anything is written."""
    rules = recipe.publish
    if refined < rules.min_refined:
        raise PublishError(
            f"refusing to publish: {refined} refined documents, fewer than publish.min_refined ({rules.min_refined})"
        )
    before = parent["counts"]["refined"] if parent else 0
    if rules.max_drop is not None and before and refined < before * (1 - rules.max_drop):
        raise PublishError(
            f"refusing to publish: {refined} refined documents, down from {before} in {parent['version']} "
            f"(more than publish.max_drop {rules.max_drop:.0%}); set publish.max_drop to allow it"
        )


def publish(inp: PublishInput, engine: Engine | None = None) -> PublishOutcome:
    """Commit the staged files as a new version (or none, when LATEST holds the same); the engine's shards write
    the parts, and this process commits them."""
    recipe = inp.recipe
    dataset_dir = recipe.output_dir / recipe.dataset
    with dataset_lock(dataset_dir):
        verdicts = require_passed(inp.gate_dir, inp.staged)
        remove_abandoned(dataset_dir)
        stored = adopt_latest(recipe)  # the parent is the object store's LATEST, whatever this machine kept
        tmp = temporary(dataset_dir)
        try:
            outcome = _publish_locked(inp, dataset_dir, tmp, verdicts, engine or Engine())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if recipe.remote_output:
            try:
                upload(outcome.path, root_path(recipe.output) / recipe.dataset, stored)
            except LatestMoved:
                adopt_latest(recipe)  # this machine follows the version that won
                raise
        return outcome


RECIPE_MARK = ".recipe"  # the recipe file that publishes a dataset folder


def _check_publisher(dataset_dir: Path, recipe: Recipe) -> None:
    """One dataset folder, one recipe: two recipes with one dataset name and output would replace each other's
    LATEST with unrelated corpora, unless both say `publish.shared: true`."""
    mark = dataset_dir / RECIPE_MARK
    if recipe.origin is None or recipe.publish.shared:
        return
    owner = mark.read_text().strip() if mark.exists() else None
    if owner is None:
        mark.write_text(recipe.origin + "\n")
    elif owner != recipe.origin:
        raise PublishError(
            f"refusing to publish: {dataset_dir} is published by the recipe {owner}, not {recipe.origin}. Rename "
            f"one of the datasets, set publish.shared: true in both, or (a recipe that moved) delete {mark}"
        )


MODEL = "quality_model.parquet"  # the quality classifier that scored the version (`refinery/clean/quality.py`)


def _publish_locked(inp: PublishInput, dataset_dir: Path, tmp: Path, verdicts: dict, engine: Engine) -> PublishOutcome:
    recipe = inp.recipe
    _check_publisher(dataset_dir, recipe)
    parent = latest(dataset_dir)
    previous = manifest_of(dataset_dir, parent)
    _check_volume(pq.ParquetFile(inp.cleaned).metadata.num_rows, previous, recipe)
    refined_parts = _write_parts([inp.cleaned], tmp, engine=engine, derive=_derivations(inp, tmp))
    removed_parts = _write_parts(inp.removed, tmp / "removed", REMOVED_SCHEMA, engine)
    refined_files = [p["path"] for p in refined_parts]
    (tmp / "dedup").mkdir()
    shutil.copyfile(inp.signatures, tmp / "dedup" / "signatures.parquet")
    shutil.copytree(inp.validation_dir, tmp / "validation")

    data_files = [_part_entry(p, tmp, "refined") for p in refined_parts]
    data_files += [_part_entry(p, tmp, "removed") for p in removed_parts]
    data_files.append(_file_entry(tmp / "dedup" / "signatures.parquet", tmp, "signatures"))
    content = content_hash(data_files)
    code = code_version()
    vhash = version_hash(content, recipe.hash, code["source_sha256"])
    if previous and previous.get("version_hash") == vhash:
        return PublishOutcome(dataset_dir / parent, parent, previous, created=False)
    if recipe.builds_on_previous and inp.built_on != parent:
        raise PublishError(
            f"refusing to publish: this run's data was built on {inp.built_on or 'no version'} (deduplicated "
            f"against it or appended to it), but LATEST of {recipe.dataset} is now {parent}: another run published "
            f"in between. Run again to refine on top of {parent}"
        )

    now = datetime.now(UTC)
    version = f"{now:%Y%m%dT%H%M%SZ}-{vhash[:8]}"
    refined_rows = sum(f["rows"] for f in data_files if f["kind"] == "refined")
    schema = {k: str(v) for k, v in pl.read_parquet_schema(refined_files[0]).items()}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "dataset": recipe.dataset,
        "version": version,
        "created_at": now.isoformat(timespec="seconds"),
        "recipe": recipe.resolved(),
        "recipe_hash": recipe.hash,
        "code_version": code,
        "mode": recipe.publish.mode,
        "sources": [{"name": s.name, "format": s.format, "license": s.license} for s in recipe.sources],
        "ore": inp.ore,
        "counts": _counts(refined_rows, [p["path"] for p in removed_parts], refined_files),
        "accounting": verdicts["accounting"],
        "schema": schema,
        "files": data_files,
        "content_hash": content,
        "version_hash": vhash,
        "validation": json.loads(inp.validation.to_json()),
        "stages": {
            **_with_model(inp.stages, tmp),
            "engine": {**inp.stages.get("engine", {}), "publish": engine.evidence()},
        },
        "parent": parent,
        "release": release(previous, schema, content),
        "data_unchanged": bool(previous) and previous["content_hash"] == content,
        "dagster_run_id": inp.run_id,
    }
    if recipe.publish.tokens:
        manifest["tokens"] = _token_totals(refined_files, recipe, tmp)
    if recipe.publish.ablation:  # before the readiness report: it is evidence there
        manifest["ablation"] = _ablation(refined_files, inp.ore_records, recipe, tmp)
    claims = {"files": data_files, "recipe_hash": recipe.hash, "source_sha256": code["source_sha256"]}
    card = _write_datacard(manifest, measure_elsewhere(tmp, claims), tmp)
    (tmp / "croissant.json").write_text(json.dumps(croissant(manifest, pl.read_parquet_schema(refined_files[0]))))
    if recipe.publish.tokenized:
        manifest["tokenized"] = _packed(refined_files, tmp, recipe)
    manifest["files"] = [*data_files, *_written(card, recipe, tmp)]
    manifest = checked(manifest)
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    signature = manifest_signature(manifest_bytes)
    if signature:
        (tmp / "manifest.sig").write_text(signature + "\n")
    (tmp / "manifest.json").write_bytes(manifest_bytes)  # last: marks completeness
    final = move_into_place(tmp, dataset_dir, version)
    set_latest(dataset_dir, version)
    return PublishOutcome(final, version, manifest, created=True)


def _written(card: Path, recipe: Recipe, tmp: Path) -> list[dict]:
    """The entries of the version's files beside its data: card, Croissant, validation, and what the recipe adds."""
    entries = [_file_entry(card, tmp, "datacard"), _file_entry(tmp / "croissant.json", tmp, "croissant")]
    entries += [_file_entry(p, tmp, "validation") for p in sorted((tmp / "validation").rglob("*")) if p.is_file()]
    for name, kind in (("tokenizer.json", "tokenizer"), (MODEL, "model"), ("ablation.json", "ablation")):
        if (tmp / name).exists():
            entries.append(_file_entry(tmp / name, tmp, kind))
    if recipe.publish.tokenized:
        entries += [_file_entry(p, tmp, "tokenized") for p in sorted((tmp / "tokenized").iterdir())]
    return entries


def _ablation(refined: list[Path], ore: list[Path], recipe: Recipe, tmp: Path) -> dict:
    """`publish.ablation`: the refined text against the run's ore on the same small model (`refinery.ablation`),
    written to `ablation.json`; the manifest keeps it too, for readiness."""
    from refinery.clean.decontaminate import all_texts
    from refinery.lm import ablate
    from refinery.recipe import ablation_files

    how, files = ablation_files(recipe)
    sides = {
        name: pl.scan_parquet(paths).select("text").collect().get_column("text")
        for name, paths in (("refined", refined), ("ore", ore))
    }
    result = ablate(sides, all_texts(files, how.field), how.tokens, how.seeds)
    result["evaluation"]["files"] = {f.name: sha256_file(f) for f in files}
    (tmp / "ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _with_model(stages: dict, tmp: Path) -> dict:
    """The stages, the clean stage's quality model copied into the version and named by its place there."""
    quality = stages.get("clean", {}).get("quality")
    if not quality:
        return stages
    shutil.copyfile(quality["model"], tmp / MODEL)
    return {**stages, "clean": {**stages["clean"], "quality": {**quality, "model": MODEL}}}


def _token_totals(refined: list[Path], recipe: Recipe, tmp: Path) -> dict:
    tokens = recipe.publish.tokens
    return token_totals(refined, recipe.splits is not None) | {
        "tokenizer": tokens.tokenizer or f"byte-level BPE trained on this version, vocabulary {tokens.vocab_size}",
        "tokenizer_sha256": sha256_file(tmp / "tokenizer.json"),
    }


def _packed(refined: list[Path], tmp: Path, recipe: Recipe) -> dict:
    """One packed token shard per split (or one of every document), tokenized with the version's tokenizer."""
    tokenizer, packing = (tmp / "tokenizer.json").read_text(), recipe.publish.tokenized
    splits = list(recipe.splits.shares) if recipe.splits else [None]
    shards = {
        split or "all": pack(refined, tokenizer, tmp / "tokenized", f"000_{split or 'all'}", packing.seed, split)
        for split in splits
    }
    return {"format": packing.format, "seed": packing.seed, "shards": shards}


def _write_datacard(manifest: dict, measured: dict, folder: Path) -> Path:
    """DATACARD.md, rendered from the manifest with the readiness report; whether the card as written states this
    version, content hash and every source is itself a line of that report: read back from the file, and the
    card rendered again if the line does not hold."""
    path = folder / "DATACARD.md"
    card = {"version": manifest["version"], "content_hash": manifest["content_hash"]}
    card["sources"] = [s["name"] for s in manifest["sources"]]  # what the card is meant to state
    for _ in range(2):
        manifest["readiness"] = assess(manifest, {**measured, "datacard": card})
        path.write_text(render_datacard(manifest))
        written = read_datacard(path)
        if written == card:
            break
        card = written
    return path
