"""The three AI-readiness levels, each with the evidence that it holds or the reason it does not.

Every line of evidence compares what one path measured with what another claims: rows decoded from the written
parts by another process against the gate's count of the staged rows, files re-hashed from disk against the
hashes their writers reported, the version id recomputed as `verify` does, the card as written against the
manifest, GX's own results against the severities declared (`evidence.py`). The quality level rests on the
recipe's switches and the GX suite and, when the recipe names evaluation text (`publish.ablation`), on a model:
trained on the refined text and on the run's ore alike, it must do better on the evaluation text from the refined.
"""

from __future__ import annotations

LEVELS = ("technically_usable", "convenient", "quality_assured")


def _technically_usable(m: dict, measured: dict) -> list[tuple[bool, str]]:
    validation, counts, accounting = m["validation"], m["counts"], m["accounting"]
    schema_ok = any(r["expectation"] == "expect_column_to_exist" for r in validation["results"]) and all(
        r["success"] for r in validation["results"] if r["expectation"] == "expect_column_to_exist"
    )
    quarantined = counts["removed"].get("ingest", {}).get("total", 0)
    rows = measured["rows_read_back"]
    return [
        (schema_ok, "every required column is present (GX expect_column_to_exist)"),
        (
            counts["refined"] > 0 and rows == accounting["refined"] == counts["refined"],
            f"{rows} refined records decoded from the written parts by another process; the gate counted "
            f"{accounting['refined']} staged",
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
    changed = [f["path"] for f in data if measured["sha256"].get(f["path"]) != f["sha256"]]
    card = measured["datacard"]
    card_ok = (card.get("version"), card.get("content_hash"), card.get("sources")) == (
        m["version"],
        m["content_hash"],
        [s["name"] for s in m["sources"]],
    )
    return [
        (measured["parquet"], f"{len(data)} data files, each Apache Parquet by its bytes (PAR1 at both ends)"),
        (
            not changed,
            "every data file re-read from disk by another process: sha256 as in manifest.json"
            + (f" except {', '.join(changed[:3])}" if changed else ""),
        ),
        (
            measured["version_hash"] == m["version_hash"] and m["version"].endswith(measured["version_hash"][:8]),
            f"immutable version {m['version']}: its id recomputed from the files as re-hashed, the recipe and the "
            f"code, as `verify` does (parent: {m['parent'] or 'none'})",
        ),
        (card_ok, "DATACARD.md, as written, states this version, its content hash and every source"),
    ]


def _quality_assured(m: dict, measured: dict) -> list[tuple[bool, str]]:
    validation, counts = m["validation"]["summary"], m["counts"]
    read = counts["read"] or 1
    dedup = m["recipe"]["dedup"]
    filters = {k: v for k, v in m["recipe"]["clean"]["filters"].items() if v not in (None, False)}
    licensed = [s["name"] for s in m["sources"] if s.get("license")]
    unknown = [s["name"] for s in m["sources"] if not s.get("license")]
    errors = {(r["expectation"], r["column"]) for r in m["validation"]["results"] if r["severity"] == "error"}
    gx_failed = measured["gx_failed"]
    gx_errors = [f for f in gx_failed or [] if tuple(f) in errors]
    return [
        (
            validation["success"] and gx_failed is not None and not gx_errors,
            f"GX suite: {validation['evaluated']} expectations, "
            f"{validation['failed_errors']} failed errors, {validation['warnings']} warnings; in GX's own results "
            + ("none" if gx_failed is None else f"{len(gx_errors)} error-severity failures"),
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
        *([_gain(m["ablation"])] if m.get("ablation") else []),
    ]


def _gain(ablation: dict) -> tuple[bool, str]:
    """A measured gain on a model (`publish.ablation`): the refined side's perplexity lowest, its interval apart."""
    sides = ablation["sides"]
    said = "; ".join(
        f"{name} {s['mean']:.1f} ({s['interval'][0]:.1f}-{s['interval'][1]:.1f})" for name, s in sides.items()
    )
    gained = ablation["best"] == "refined" and ablation["separated"]
    return (
        gained,
        f"a model trained on {ablation['budget_tokens']:,} tokens of each side, {ablation['seeds']} seeds: "
        f"evaluation perplexity {said}: " + ("refined is better" if gained else "no measured gain over the ore"),
    )


CHECKS = {"technically_usable": _technically_usable, "convenient": _convenient, "quality_assured": _quality_assured}


def assess(manifest: dict, measured: dict) -> dict:
    """{'level': highest level reached in order, 'levels': [{name, reached, evidence}]}.

    `measured`: `evidence.measure` of the written files, and `datacard`: `evidence.read_datacard` of the card."""
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
