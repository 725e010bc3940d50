"""Readiness evidence read from the version's files as written, by another process than the one that wrote them.

`measure` decodes the refined rows (not the footers' counts), re-hashes every file from disk, checks each data
file is Parquet by its bytes, recomputes the version hash the way `Catalog.verify` does, and reads GX's own
results; `read_datacard` parses DATACARD.md from the file. `readiness.assess` compares these with what the gate
counted and the manifest claims: a row lost, a byte flipped or a card edited after writing each fail their line.

    python -m refinery.publish.evidence <version folder>   (the claims as JSON on stdin, the evidence on stdout)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from refinery.hashing import DATA_KINDS, content_hash, sha256_file, version_hash


def _rows(paths: list[Path]) -> int:
    """Rows decoded from the files' doc_id column, page by page: a footer that lies does not count."""
    import pyarrow.parquet as pq
    from pyarrow.lib import ArrowException

    rows = 0
    try:
        for path in paths:
            for batch in pq.ParquetFile(path).iter_batches(columns=["doc_id"], batch_size=65_536):
                rows += len(batch.column(0))
    except (OSError, ArrowException):
        return -1  # a part that does not decode: no count to agree with
    return rows


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(-4, 2)
        return head == b"PAR1" == fh.read(4)


def read_datacard(path: Path) -> dict:
    """What the card as written states: its version, content hash and sources."""
    if not path.exists():
        return {}
    text = path.read_text()
    title = re.search(r"^# \S+ @ (\S+)$", text, re.MULTILINE)
    hash_ = re.search(r"^Content hash `([0-9a-f]{64})`", text, re.MULTILINE)
    sources = re.search(r"^## Sources and licences\n\n(.*?)\n\n", text, re.MULTILINE | re.DOTALL)
    rows = sources.group(1).splitlines()[2:] if sources else []
    return {
        "version": title and title.group(1),
        "content_hash": hash_ and hash_.group(1),
        "sources": [row.split("|")[1].strip() for row in rows if row.startswith("|")],
    }


def _gx_failed(path: Path) -> list[list[str | None]] | None:
    """(expectation, column) of every result GX itself judged failed or could not evaluate, from its own JSON;
    None when GX left no results."""
    if not path.exists():
        return None
    failed = []
    for validation in json.loads(path.read_text()):
        for result in validation.get("results", []):
            raised = (result.get("exception_info") or {}).get("raised_exception")
            if not result.get("success") or raised:
                config = result.get("expectation_config") or {}
                failed.append([config.get("type"), (config.get("kwargs") or {}).get("column")])
    return failed


def measure(folder: Path, claims: dict) -> dict:
    """Evidence about the files under `folder` that `claims` (manifest entries: files, recipe_hash and
    source_sha256) name."""
    files = claims["files"]
    data = [f for f in files if f["kind"] in DATA_KINDS]
    sha = {f["path"]: sha256_file(folder / f["path"]) for f in files if (folder / f["path"]).exists()}
    content = content_hash([{**f, "sha256": sha.get(f["path"], "missing")} for f in data])
    return {
        "rows_read_back": _rows([folder / f["path"] for f in data if f["kind"] == "refined"]),
        "sha256": sha,
        "parquet": all(_is_parquet(folder / f["path"]) for f in data if f["path"] in sha),
        "version_hash": version_hash(content, claims["recipe_hash"], claims["source_sha256"]),
        "gx_failed": _gx_failed(folder / "validation" / "gx_results.json"),
    }


def measure_elsewhere(folder: Path, claims: dict) -> dict:
    """`measure`, in a fresh process: nothing of the writer's state (open handles, caches) takes part."""
    done = subprocess.run(
        [sys.executable, "-m", "refinery.publish.evidence", str(folder)],
        input=json.dumps(claims),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"measuring the readiness evidence failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), json.load(sys.stdin))))
