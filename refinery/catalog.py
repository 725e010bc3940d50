"""The consumer API: find a published version by id, verify it, load it, trace a record back to its ore.

cat = Catalog("data/refined")
v = cat.version("forum-en", "latest")
v.verify()
v.scan().filter(pl.col("lang") == "en").collect()
"""

from __future__ import annotations

import hmac
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from refinery.errors import NotFoundError, VerifyError
from refinery.hashing import content_hash, manifest_signature, recipe_hash, version_hash
from refinery.loader import Loader
from refinery.storage import arrow_paths, copy_checked, is_uri, root_path, sha256
from refinery.store import layout
from refinery.store.lock import dataset_lock
from refinery.store.prune import prune

if TYPE_CHECKING:
    import duckdb
    import pyarrow.dataset as ds

REQUIRED = ("version", "recipe", "recipe_hash", "content_hash", "version_hash")  # what the hash chain needs


@dataclass(frozen=True)
class Version:
    dataset: str
    id: str
    path: Path

    @cached_property
    def manifest(self) -> dict:
        try:
            manifest = json.loads((self.path / "manifest.json").read_text())
            paths = [f["path"] for f in manifest["files"]]
            missing = [k for k in REQUIRED if k not in manifest]
            if "source_sha256" not in (manifest.get("code_version") or {}):
                missing.append("code_version.source_sha256")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise VerifyError(f"{self.dataset}@{self.id}: manifest.json is unreadable: {err}") from None
        if missing:
            raise VerifyError(f"{self.dataset}@{self.id}: manifest.json lacks {', '.join(missing)}")
        for path in paths:
            inside = isinstance(path, str) and (self.path / path).resolve().is_relative_to(self.path.resolve())
            if not inside or Path(path).is_absolute() or ".." in Path(path).parts:
                raise VerifyError(f"{self.dataset}@{self.id}: manifest names a file outside the version: {path!r}")
        return manifest

    def _files(self, kind: str) -> list[Path]:
        return [self.path / f["path"] for f in self.manifest["files"] if f["kind"] == kind]

    @property
    def files(self) -> list[Path]:
        """Parquet files of the refined rows, once `check()` passed: every loader below reads through here."""
        self.check()
        return self._files("refined")

    def scan(self, check: bool = True, split: str | None = None) -> pl.LazyFrame:
        """The refined rows (of one split, for a version with splits). A version whose files or hashes do not add
        up raises VerifyError (`check()`), unless `check=False`."""
        rows = pl.scan_parquet([str(f) for f in (self.files if check else self._files("refined"))])
        if split is None:
            return rows
        splits = self.manifest["counts"].get("splits") or {}
        if split not in splits:
            raise NotFoundError(f"{self.dataset}@{self.id} has no split {split!r} (splits: {sorted(splits) or 'none'})")
        return rows.filter(pl.col("split") == split)

    @property
    def removed_files(self) -> list[Path]:
        """Parquet files of the removed rows, once `check()` passed."""
        self.check()
        return self._files("removed")

    def removed(self, check: bool = True) -> pl.LazyFrame:
        return pl.scan_parquet([str(f) for f in (self.removed_files if check else self._files("removed"))])

    def signatures(self) -> Path:
        return self._files("signatures")[0]

    def packed(self, split: str = "all") -> Path:
        """The packed token shard of `split` (`publish.tokenized`; "all" without splits), once `check()` passed:
        `<path>` is nanotron's `.ds` file, read with datatrove's `DatatroveFolderDataset(path.parent,
        seq_len, filename_pattern=path.name, token_size=manifest['tokenized']['shards'][split]['token_size'])`."""
        self.check()
        shards = (self.manifest.get("tokenized") or {}).get("shards", {})
        if split not in shards:
            raise NotFoundError(
                f"{self.dataset}@{self.id} has no packed tokens of {split!r} (shards: {sorted(shards)})"
            )
        return self.cached().path / "tokenized" / f"000_{split}.ds"  # memory-mapped: on local disk

    def token_origin(self, split: str, position: int) -> dict:
        """The document whose tokens hold `position` of `split`'s packed shard: doc_id, ore file and line, and its
        start and end in tokens."""
        docs = self.packed(split).with_suffix(".docs.parquet")
        found = pl.scan_parquet(docs).filter((pl.col("start") <= position) & (pl.col("end") > position)).collect()
        if found.height != 1:
            raise NotFoundError(f"token {position} is not in {self.dataset}@{self.id}'s packed {split!r} shard")
        return found.row(0, named=True)

    def to_arrow(self) -> pa.Table:
        return self._arrow_dataset().to_table()

    def _arrow_dataset(self) -> ds.Dataset:
        import pyarrow.dataset as ds  # imported here: pandas comes with it, and most commands never need it

        files, filesystem = arrow_paths(self.files)
        return ds.dataset(files, format="parquet", filesystem=filesystem)

    def to_duckdb(self, con: duckdb.DuckDBPyConnection, name: str | None = None) -> str:
        """Create a view over the refined files in `con`; returns the view's name. Objects are read through
        pyarrow (DuckDB's own S3 reader is an extension it would download)."""
        view = name or self.dataset.replace("-", "_").replace(".", "_")
        if is_uri(self.path):
            con.register(view, self._arrow_dataset())
            return view
        files = ", ".join("'" + str(f).replace("'", "''") + "'" for f in self.files)  # SQL string literals
        con.execute(f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM read_parquet([{files}])')
        return view

    def iter_batches(self, batch_size: int = 1024, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches streamed from disk, in order: memory stays at one batch, for training loops."""
        yield from self._arrow_dataset().to_batches(batch_size=batch_size, columns=columns)

    def loader(self, split: str | None = None, cache_dir: str | Path | None = None, **options: object) -> Loader:
        """Batches of one rank's rows for data-parallel training (`refinery.loader.Loader`: rank, world_size,
        seed, epoch, batch_size, columns, licenses: only rows under these), resumable mid-epoch. A version in
        object storage is read from its local copy (`cached`)."""
        if split is not None:
            self.scan(split=split)  # an unknown split is an error here, not an empty loader
        return Loader(self.cached(cache_dir).files, split, **options)  # type: ignore[arg-type]

    def to_hf(self, streaming: bool = False, cache_dir: str | Path | None = None):
        """The rows as Hugging Face `datasets` (extra: `refinery[hf]`), offline. By default a map-style `Dataset`,
        memory-mapped: HF decodes the Parquet parts once into Arrow files under its cache (`cache_dir`), which
        every later call and process maps without reading them into memory (they take the data's decoded size).
        `streaming=True`: an `IterableDataset` that reads the parts as they are, copying nothing."""
        from datasets import Dataset, load_dataset

        files = [str(f) for f in self.cached().files]
        if streaming:
            return load_dataset("parquet", data_files=files, split="train", streaming=True)
        return Dataset.from_parquet(files, cache_dir=str(cache_dir) if cache_dir else None)

    def cached(self, cache_dir: str | Path | None = None) -> Version:
        """This version on local disk: itself when it is local. A version in object storage is copied once into
        `cache_dir` (default `$REFINERY_CACHE`, else `~/.cache/refinery`), each file checked against the
        manifest's sha256 as it arrives, the manifest last; every later call and process reads that copy. A
        version's id names its bytes for good, so the copy never goes stale."""
        if not is_uri(self.path):
            return self
        self.check()
        home = cache_dir or os.environ.get("REFINERY_CACHE") or Path.home() / ".cache" / "refinery"
        folder = Path(home) / self.dataset / self.id
        if not (folder / "manifest.json").exists():
            staging = folder.with_name(f".{self.id}-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            wrong = copy_checked(self.path, self.manifest["files"], staging)
            if wrong:
                shutil.rmtree(staging)
                raise VerifyError(f"{self.dataset}@{self.id}: sha256 mismatch as downloaded: {', '.join(wrong)}")
            for name in ("manifest.sig", "manifest.json"):  # the manifest last: it marks the copy complete
                if (self.path / name).exists():
                    (staging / name).write_bytes((self.path / name).read_bytes())
            try:
                staging.rename(folder)
            except OSError:  # another process finished the same copy first
                shutil.rmtree(staging)
        local = Version(self.dataset, self.id, folder)
        if local.manifest["version_hash"] != self.manifest["version_hash"]:
            raise VerifyError(f"{self.dataset}@{self.id}: the copy in {folder} is of other data")
        local.check()
        return local

    def _chain_problems(self) -> list[str]:
        """Hashes that must agree without reading the data: content hash from the file list, recipe hash from
        the recipe, version hash from those and the code, the version id from the version hash."""
        m = self.manifest
        problems = []
        if content_hash(m["files"]) != m["content_hash"]:
            problems.append("content hash does not match the files listed")
        if recipe_hash(m["recipe"]) != m["recipe_hash"]:
            problems.append("recipe hash does not match the recipe")
        expected = version_hash(m["content_hash"], m["recipe_hash"], m["code_version"]["source_sha256"])
        if expected != m["version_hash"] or not self.id.endswith(expected[:8]) or m["version"] != self.id:
            problems.append("version hash does not match the data, recipe and code, or the version id")
        return problems

    def _signature_problems(self) -> list[str]:
        """With $REFINERY_SIGNING_KEY set, the manifest must carry a matching HMAC (`manifest.sig`)."""
        expected = manifest_signature((self.path / "manifest.json").read_bytes())
        if expected is None:
            return []
        sig = self.path / "manifest.sig"
        if not sig.exists():
            return ["manifest is not signed"]
        return [] if hmac.compare_digest(sig.read_text().strip(), expected) else ["manifest signature does not match"]

    def check(self) -> None:
        """Cheap integrity: the signature (when a key is set) and the hash chain hold, and every listed file is
        there with its recorded size."""
        if "_checked" in self.__dict__:
            return
        problems = self._signature_problems() + self._chain_problems()
        for entry in self.manifest["files"]:
            path = self.path / entry["path"]
            if not path.is_file():
                problems.append(f"{entry['path']}: missing")
            elif path.stat().st_size != entry["bytes"]:
                problems.append(f"{entry['path']}: size {path.stat().st_size}, manifest says {entry['bytes']}")
        if problems:
            raise VerifyError(f"{self.dataset}@{self.id}: " + "; ".join(problems))
        self.__dict__["_checked"] = True

    def verify(self) -> None:
        """`check()`, then re-hash every file against the manifest; raise VerifyError naming each mismatch."""
        self.check()
        problems = [
            f"{entry['path']}: sha256 mismatch"
            for entry in self.manifest["files"]
            if sha256(str(self.path / entry["path"])) != entry["sha256"]
        ]
        if problems:
            raise VerifyError(f"{self.dataset}@{self.id}: " + "; ".join(problems))

    @property
    def pinned(self) -> bool:
        return self.id in layout.pins(self.path.parent)


class Catalog:
    """Published versions under a folder, or under a URI (`s3://bucket/refined`: read through fsspec)."""

    def __init__(self, root: str | Path = "data/refined"):
        self.root = root_path(root)

    def datasets(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / "LATEST").exists())

    def versions(self, dataset: str) -> list[str]:
        """Complete versions (with a manifest), oldest first."""
        folder = self.root / dataset
        if not folder.is_dir():
            raise NotFoundError(f"no dataset {dataset!r} under {self.root}")
        return layout.versions(folder)

    def version(self, dataset: str, version: str = "latest") -> Version:
        if version == "latest":
            version = layout.latest(self.root / dataset)
            if version is None:
                raise NotFoundError(f"dataset {dataset!r} has no published version under {self.root}")
        if version not in self.versions(dataset):
            raise NotFoundError(f"{dataset} has no version {version!r}; see `refinery versions {dataset}`")
        return Version(dataset, version, self.root / dataset / version)

    def _lock(self, dataset: str) -> AbstractContextManager:
        """The dataset's lock: pins, prunes and publishes here take turns (publishers elsewhere writing to the
        same URI are not seen)."""
        return nullcontext() if is_uri(self.root) else dataset_lock(self.root / dataset)

    def pin(self, dataset: str, version: str) -> Version:
        with self._lock(dataset):
            v = self.version(dataset, version)
            layout.write_pins(self.root / dataset, layout.pins(self.root / dataset) | {v.id})
        return v

    def unpin(self, dataset: str, version: str) -> None:
        with self._lock(dataset):
            layout.write_pins(self.root / dataset, layout.pins(self.root / dataset) - {version})

    def prune(self, dataset: str, keep: int) -> list[str]:
        """Delete all but the newest `keep` versions; pinned versions and LATEST are always kept (`keep=0`: only
        they are)."""
        with self._lock(dataset):
            self.version(dataset)  # a dataset with a LATEST, or NotFoundError
            return prune(self.root / dataset, keep)

    def diff(self, dataset: str, a: str, b: str) -> dict:
        """Documents added and removed between two versions by doc_id, those whose text changed under the same id
        (a post edited under its native id), why each removed one left (its ore is gone, or `stage/reason` in `b`),
        and changes in counts per stage/reason."""
        va, vb = self.version(dataset, a), self.version(dataset, b)
        ids_a, ids_b = va.scan().select("doc_id"), vb.scan().select("doc_id")
        texts = [v.scan().select("doc_id", "text") for v in (va, vb)]
        changed = texts[0].join(texts[1], on="doc_id", suffix="_b").filter(pl.col("text") != pl.col("text_b"))
        changed = changed.select("doc_id").collect(engine="streaming").get_column("doc_id").to_list()
        added = ids_b.join(ids_a, on="doc_id", how="anti").collect().get_column("doc_id").to_list()
        left = ids_a.join(ids_b, on="doc_id", how="anti")
        why = left.join(
            vb.removed().select("doc_id", why=pl.format("{}/{}", "stage", "reason")), on="doc_id", how="left"
        ).with_columns(pl.col("why").fill_null("ore gone"))
        why = dict(why.collect().iter_rows())
        dropped = list(why)
        ca, cb = va.manifest["counts"], vb.manifest["counts"]
        reasons = {}
        for stage in sorted(set(ca["removed"]) | set(cb["removed"])):
            ra, rb = ca["removed"].get(stage, {}), cb["removed"].get(stage, {})
            for reason in sorted(set(ra) | set(rb)):
                if ra.get(reason, 0) != rb.get(reason, 0):
                    reasons[f"{stage}/{reason}"] = (ra.get(reason, 0), rb.get(reason, 0))
        return {
            "a": va.id,
            "b": vb.id,
            "added": added,
            "removed": dropped,
            "why_removed": why,
            "changed": changed,
            "refined": (ca["refined"], cb["refined"]),
            "changed_counts": reasons,
        }

    def lineage(self, dataset: str, doc_id: str, version: str = "latest") -> dict:
        """Where a record came from and what happened to it, in one version, and (`ore`) whether its ore file is
        still as that version read it, by the latest version's reading of it."""
        v = self.version(dataset, version)
        info = self._lineage(v, doc_id)
        return info | {"ore": self._ore_since(v, info["source_uri"])}

    def _ore_since(self, v: Version, uri: str) -> dict:
        """The ore file `uri` as version `v` read it, against the latest version: unchanged, changed or gone."""
        then, latest = _ore_entry(v, uri), self.version(v.dataset)
        found = {"path": uri, "sha256": then and then["sha256"], "as_of": latest.id}
        if latest.id == v.id:
            return found | {"since": "this is the latest version"}
        now = _ore_entry(latest, uri)
        if now is None:
            return found | {"since": "gone: the latest version read no such file"}
        same = then is not None and now["sha256"] == then["sha256"]
        return found | {"since": "unchanged" if same else f"changed: the latest version read sha256 {now['sha256']}"}

    def _lineage(self, v: Version, doc_id: str) -> dict:
        dataset = v.dataset
        refined = v.scan().filter(pl.col("doc_id") == doc_id).collect()
        merged = v.removed().filter(pl.col("duplicate_of") == doc_id).collect()
        if refined.height:
            row = refined.row(0, named=True)
            return {
                "doc_id": doc_id,
                "version": v.id,
                "outcome": "refined",
                "source": row["source"],
                "source_id": row["source_id"],
                "source_uri": row["source_uri"],
                "line": row["line"],
                "stages": ["ingest", "dedup", "clean", "validate", "publish"],
                "merged_duplicates": merged.select("doc_id", "source_uri", "line", "reason", "similarity").to_dicts(),
            }
        removed = v.removed().filter(pl.col("doc_id") == doc_id).collect()
        if removed.height:
            row = removed.row(0, named=True)
            stages = ["ingest", "dedup", "clean"]
            return {
                "doc_id": doc_id,
                "version": v.id,
                "outcome": "removed",
                "source": row["source"],
                "source_id": row["source_id"],
                "source_uri": row["source_uri"],
                "line": row["line"],
                "stages": stages[: stages.index(row["stage"]) + 1],
                "stage": row["stage"],
                "reason": row["reason"],
                "detail": row["detail"],
                "value": row["value"],
                "duplicate_of": row["duplicate_of"],
                "keeper_version": self.holder(dataset, row["duplicate_of"], v.id) if row["duplicate_of"] else None,
                "similarity": row["similarity"],
            }
        raise NotFoundError(f"{dataset}@{v.id} has no record {doc_id!r}")

    def holder(self, dataset: str, doc_id: str, version: str = "latest") -> str | None:
        """The newest version, `version` or an earlier one, whose refined rows hold `doc_id` (the keeper a
        duplicate points to may live in an earlier version, e.g. before a snapshot dropped its ore)."""
        newest = self.version(dataset, version).id
        for vid in reversed([v for v in self.versions(dataset) if v <= newest]):
            if self.version(dataset, vid).scan().filter(pl.col("doc_id") == doc_id).select(pl.len()).collect().item():
                return vid
        return None


def _ore_entry(version: Version, uri: str) -> dict | None:
    """The manifest's entry for ore file `uri` (path, bytes, sha256), None when the version read no such file."""
    return next((o for o in version.manifest.get("ore", []) if o["path"] == uri), None)
