"""The three AI-readiness levels, each with the evidence that it holds or the reason it does not."""

from __future__ import annotations

LEVELS = ("technically_usable", "convenient", "quality_assured")


def assess(manifest: dict) -> dict:
    """{'level': highest level reached in order, 'levels': [{name, reached, evidence}]}."""
    validation = manifest["validation"]
    schema_ok = all(r["success"] for r in validation["results"] if r["expectation"] == "expect_column_to_exist")
    counts = manifest["counts"]
    read = counts["read"] or 1
    dedup = manifest["recipe"]["dedup"]
    filters = {k: v for k, v in manifest["recipe"]["clean"]["filters"].items() if v not in (None, False)}
    licensed = [o for o in manifest["sources"] if o.get("license")]
    checks = {
        "technically_usable": [
            (schema_ok, "every required column is present (GX expect_column_to_exist)"),
            (counts["refined"] > 0, f"{counts['refined']} refined records parse as Parquet"),
            (
                True,
                f"{counts['removed'].get('ingest', {}).get('total', 0)} unparseable records quarantined "
                "with file, line and error",
            ),
        ],
        "convenient": [
            (True, "Apache Parquet files, zstd-compressed, with sha256 checksums in manifest.json"),
            (True, f"immutable version {manifest['version']} (parent: {manifest['parent'] or 'none'})"),
            (True, "DATACARD.md documents sources, processing steps and parameters"),
        ],
        "quality_assured": [
            (
                validation["summary"]["success"],
                f"GX suite: {validation['summary']['evaluated']} expectations, "
                f"{validation['summary']['failed_errors']} failed errors, {validation['summary']['warnings']} warnings",
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
            (True, f"licences known for {len(licensed)} of {len(manifest['sources'])} sources"),
        ],
    }
    levels, reached_so_far = [], True
    for name in LEVELS:
        ok = reached_so_far and all(passed for passed, _ in checks[name])
        levels.append(
            {
                "name": name,
                "reached": ok,
                "evidence": [{"holds": passed, "text": text} for passed, text in checks[name]],
            }
        )
        reached_so_far = ok
    reached = [lv["name"] for lv in levels if lv["reached"]]
    return {"level": reached[-1] if reached else "none", "levels": levels}
