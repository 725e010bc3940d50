"""The gate, bound to the data: a version is published only from staged files that passed every blocking check.

Each check records its verdict beside the staged files together with their checksums. `require_passed` reads the
verdicts back and re-hashes the files, so publishing refuses when a check failed, never ran, or judged other
bytes, however the publish step was reached (a whole run, `published` materialized alone, or a direct call).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from refinery.errors import PublishError
from refinery.hashing import sha256_file

CHECKS = ("gx_suite", "accounting")


def checksums(files: list[Path]) -> dict[str, str]:
    return {str(f): sha256_file(f) for f in files}


def record_verdict(gate_dir: Path, check: str, passed: bool, files: list[Path], detail: dict) -> None:
    """Write `<gate_dir>/<check>.json` atomically: the verdict and the checksums of the files it judged."""
    gate_dir.mkdir(parents=True, exist_ok=True)
    tmp = gate_dir / f".{check}.json.tmp"
    tmp.write_text(json.dumps({"check": check, "passed": passed, "files": checksums(files), "detail": detail}))
    os.replace(tmp, gate_dir / f"{check}.json")


def require_passed(gate_dir: Path, files: list[Path]) -> dict[str, dict]:
    """The verdicts of every blocking check over exactly `files`; PublishError naming what is wrong otherwise."""
    current = checksums(files)
    verdicts = {}
    for check in CHECKS:
        path = gate_dir / f"{check}.json"
        if not path.exists():
            raise PublishError(f"refusing to publish: check {check!r} has no result for these staged files")
        verdict = json.loads(path.read_text())
        if not verdict["passed"]:
            raise PublishError(f"refusing to publish: check {check!r} failed for these staged files")
        if verdict["files"] != current:
            raise PublishError(f"refusing to publish: the staged files changed after check {check!r} judged them")
        verdicts[check] = verdict["detail"]
    return verdicts
