"""DATACARD.md: a dataset card in the spirit of Hugging Face's, with the AI-readiness report on top."""

from __future__ import annotations

from refinery.storage import is_uri


def markdown_table(rows: list[list[object]], header: list[str]) -> str:
    """A Markdown table; pipes and line breaks inside cells are escaped."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def readiness_markdown(readiness: dict) -> str:
    out = [f"**AI-readiness: {readiness['level'].replace('_', ' ')}**", ""]
    for level in readiness["levels"]:
        out.append(f"- {'✅' if level['reached'] else '❌'} **{level['name'].replace('_', ' ')}**")
        out += [f"  - {'✓' if e['holds'] else '✗'} {e['text']}" for e in level["evidence"]]
    return "\n".join(out)


def render_datacard(m: dict) -> str:
    counts, recipe = m["counts"], m["recipe"]
    licenses = counts.get("licenses") or {}
    removed_rows = [
        [stage, reason, n]
        for stage, reasons in counts["removed"].items()
        for reason, n in reasons.items()
        if reason != "total"
    ]
    validation = m["validation"]
    failed = [r for r in validation["results"] if not r["success"]]
    langs = m["stages"].get("clean", {}).get("languages", {})
    sections = [
        f"# {m['dataset']} @ {m['version']}",
        recipe.get("description") or "",
        f"Content hash `{m['content_hash']}`; parent version `{m['parent'] or 'none'}`"
        + ("; the data is unchanged from the parent (recipe or code changed)." if m["data_unchanged"] else "."),
        f"Release `{m['release']}`: major when a column went or changed type, minor when data or columns were "
        "added, patch when only the recipe or the code changed.",
        "## AI-readiness",
        readiness_markdown(m["readiness"]),
        "## Sources and licences",
        markdown_table(
            [[s["name"], s["format"], s["license"] or "unknown"] for s in m["sources"]], ["source", "format", "licence"]
        ),
        markdown_table(
            [[o["source"], o["path"], o["bytes"], o["sha256"][:16]] for o in m["ore"]],
            ["source", "ore file", "bytes", "sha256 (prefix)"],
        ),
        "## Counts",
        f"{counts['read']} records read, **{counts['refined']} refined**"
        + (f"; splits by identity (seed {recipe['splits']['seed']}): " if counts.get("splits") else ".")
        + ", ".join(f"{name} {n}" for name, n in (counts.get("splits") or {}).items())
        + (f" {m['tokens']['total']:,} tokens ({m['tokens']['tokenizer']})." if m.get("tokens") else ""),
        markdown_table(
            [[name, n, (m.get("tokens") or {}).get("by_license", {}).get(name, "")] for name, n in licenses.items()],
            ["licence", "refined records", "tokens"],
        )
        if licenses
        else "",
        markdown_table(removed_rows, ["stage", "reason", "records"]) if removed_rows else "Nothing removed.",
        "## Language mix",
        markdown_table([[k, v] for k, v in langs.items()], ["language", "refined records"]) if langs else "n/a",
        _ablation(m.get("ablation")),
        "## Processing steps",
        "1. **ingest**: read each source; unparseable records quarantined with file, line and error.",
        f"2. **dedup**: exact (normalized text) {'on' if recipe['dedup']['exact'] else 'off'}; near-duplicate "
        f"MinHash LSH `{recipe['dedup']['near']}`; parameters used: `{m['stages'].get('dedup', {})}`.",
        f"3. **clean**: normalization `{recipe['clean']['normalize']}`, PII redaction `{recipe['clean']['pii']}`, "
        f"filters `{ {k: v for k, v in recipe['clean']['filters'].items() if v not in (None, False)} }`.",
        _quality(m["stages"].get("clean", {}).get("quality")),
        f"4. **validate**: GX Core suite, {validation['summary']['evaluated']} expectations "
        f"({validation['summary']['failed_errors']} failed errors, {validation['summary']['warnings']} warnings)."
        + (
            ""
            if not failed
            else "\n\n"
            + markdown_table(
                [[r["expectation"], r["column"], r["severity"], r["unexpected_count"]] for r in failed],
                ["failed expectation", "column", "severity", "unexpected"],
            )
        ),
        "5. **publish**: immutable version folder; checksums in `manifest.json`.",
        "## Files",
        markdown_table(
            [[f["path"], f["kind"], f["rows"], f["bytes"]] for f in m["files"]], ["file", "kind", "rows", "bytes"]
        ),
        "## Known limitations",
        "- Quality filters are heuristics tuned for English web and forum text; other languages and code-heavy "
        "text are filtered less reliably.\n"
        "- PII redaction is pattern-based (e-mail, phone, IP, card, national id as selected); names and street "
        "addresses are not redacted.\n"
        "- Near-duplicate detection is probabilistic (MinHash LSH); pairs near the threshold can be missed.",
        "## Use",
        _use(recipe["output"], m["dataset"], m["version"]),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _ablation(ablation: dict | None) -> str:
    """`publish.ablation`'s result: each side's evaluation perplexity with its interval."""
    if not ablation:
        return ""
    rows = [
        [
            name,
            f"{s['mean']:.1f}",
            f"{s['interval'][0]:.1f}-{s['interval'][1]:.1f}",
            ", ".join(f"{p:.1f}" for p in s["perplexity"]),
        ]
        for name, s in ablation["sides"].items()
    ]
    return (
        f"## Measured on a model\n\nThe same {ablation['model']} trained on {ablation['budget_tokens']:,} tokens of "
        f"each side, scored on {ablation['evaluation']['tokens']:,} tokens of evaluation text "
        f"({', '.join(ablation['evaluation'].get('files', {}))}), {ablation['seeds']} seeds:\n\n"
        + markdown_table(rows, ["trained on", "perplexity", "95% interval", "per seed"])
    )


def _quality(quality: dict | None) -> str:
    """The learned quality score, when the recipe has one: the model, what it learned from, the cut, deciles."""
    if not quality:
        return ""
    cut = "no cut (scored only)" if quality["cut"] is None else f"documents below {quality['cut']:.4f} removed"
    rows = [[d["decile"], d["documents"], f"{d['low']:.3f}", f"{d['high']:.3f}"] for d in quality["deciles"]]
    return (
        f"   **quality score**: `{quality['model']}` (sha256 `{quality['model_sha256'][:16]}`), learned from "
        f"`{quality['learned_from']}`; {cut}.\n\n" + markdown_table(rows, ["decile", "documents", "from", "to"])
    )


def _use(output: str, dataset: str, version: str) -> str:
    """The snippet that loads this version, and where it runs from: the folder that holds this datacard (the store
    is two folders up, wherever it was moved), or anywhere, for a store named by a URI."""
    where, root = ("From anywhere:", output) if is_uri(output) else ("From the folder that holds this file:", "../..")
    code = f"from refinery.catalog import Catalog\nv = Catalog({root!r}).version({dataset!r}, {version!r})"
    return f"{where}\n\n```python\n{code}\nv.verify()\ndf = v.scan().collect()\n```"
