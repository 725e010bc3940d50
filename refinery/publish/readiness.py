"""The three AI-readiness levels, each with the evidence that it holds or the reason it does not.

Every line of evidence is a fact measured on this version: the GX results, the accounting verdict, the files as
written and re-hashed, the datacard's text, the recipe that ran. None is assumed.
"""

from __future__ import annotations

LEVELS = ("technically_usable", "convenient", "quality_assured")


def _technically_usable(m: dict, measured: dict) -> list[tuple[bool, str]]:
    validation, counts, accounting = m["validation"], m["counts"], m["accounting"]
    schema_ok = any(r["expectation"] == "expect_column_to_exist" for r in validation["results"]) and all(
        r["success"] for r in validation["results"] if r["expectation"] == "expect_column_to_exist"
    )
    quarantined = counts["removed"].get("ingest", {}).get("total", 0)
    return [
        (schema_ok, "every required column is present (GX expect_column_to_exist)"),
        (
            counts["refined"] > 0 and measured["parts_rows"] == counts["refined"],
            f"{measured['parts_rows']} refined records read back from the Parquet parts ({counts['refined']} expected)",
        ),
        (
            accounting["passed"],
            f"every record accounted for: {accounting['refined']} refined + {accounting['removed']} removed "
            f"= {accounting['refined'] + accounting['removed']} of {accounting['expected']} counted in the ore, "
            f"{quarantined} of them quarantined with file, line and reason",
        ),
    ]


def _convenient(m: dict, measured: dict) -> list[tuple[bool, str]]:
    data = [f for f in m["files"] if f["kind"] in ("refined", "removed", "signatures")]
    parquet = all(f["path"].endswith(".parquet") for f in data)
    return [
        (parquet, f"{len(data)} Apache Parquet files, each with its sha256 in manifest.json"),
        (measured["checksums_reverified"], "every file re-read and re-hashed after writing: checksums match"),
        (
            m["version"].endswith(m["version_hash"][:8]),
            f"immutable version {m['version']}, named by the hash of its data, recipe and code "
            f"(parent: {m['parent'] or 'none'})",
        ),
        (measured["datacard"], "DATACARD.md states this version, its content hash and every source"),
    ]


def _quality_assured(m: dict, measured: dict) -> list[tuple[bool, str]]:
    validation, counts = m["validation"]["summary"], m["counts"]
    read = counts["read"] or 1
    dedup = m["recipe"]["dedup"]
    filters = {k: v for k, v in m["recipe"]["clean"]["filters"].items() if v not in (None, False)}
    licensed = [s["name"] for s in m["sources"] if s.get("license")]
    unknown = [s["name"] for s in m["sources"] if not s.get("license")]
    return [
        (
            validation["success"],
            f"GX suite: {validation['evaluated']} expectations, "
            f"{validation['failed_errors']} failed errors, {validation['warnings']} warnings",
        ),
        (
            dedup["exact"] and dedup["near"]["enabled"],
            "exact and near-duplicate removal "
            f"({'on' if dedup['exact'] else 'OFF'} / {'on' if dedup['near']['enabled'] else 'OFF'}), "
            f"{counts['removed'].get('dedup', {}).get('total', 0) / read:.1%} of records removed as duplicates",
        ),
        (
            len(filters) > 0,
            f"{len(filters)} quality filters on, "
            f"{counts['removed'].get('clean', {}).get('total', 0) / read:.1%} of records rejected",
        ),
        (
            not unknown,
            f"licences known for {len(licensed)} of {len(m['sources'])} sources"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
        ),
    ]


CHECKS = {"technically_usable": _technically_usable, "convenient": _convenient, "quality_assured": _quality_assured}


def assess(manifest: dict, measured: dict) -> dict:
    """{'level': highest level reached in order, 'levels': [{name, reached, evidence}]}.

    `measured`: `parts_rows` (rows read back from the refined parts), `checksums_reverified` and `datacard`."""
    levels, reached_so_far = [], True
    for name in LEVELS:
        checks = CHECKS[name](manifest, measured)
        ok = reached_so_far and all(passed for passed, _ in checks)
        levels.append(
            {"name": name, "reached": ok, "evidence": [{"holds": passed, "text": text} for passed, text in checks]}
        )
        reached_so_far = ok
    reached = [lv["name"] for lv in levels if lv["reached"]]
    return {"level": reached[-1] if reached else "none", "levels": levels}
