"""Ablations: is a version better fuel than what it was made from? The same small language model
(`refinery.lm`: interpolated Kneser-Ney trigrams over words) is trained on an equal token budget from each side and
scored by its perplexity on evaluation text neither side holds, once per seed (a seed draws each side's documents
in another order); the result is each side's mean perplexity with a 95% t-interval over the seeds, and whether the
intervals are apart.

Each seed's vocabulary is the words seen twice in the two sides' draws together, so both models share it. A side
holding fewer tokens than the budget is an error, never a smaller draw: equal budgets are the point.

Results are kept beside the version, outside its immutable folder: `<dataset>/ablations/<version>--<name>.json`.
"""

from __future__ import annotations

import hashlib
import json
import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from refinery.catalog import Version
from refinery.errors import RecipeError
from refinery.lm import KneserNey, tokens, vocabulary
from refinery.recipe import Recipe

MODEL = "interpolated Kneser-Ney trigram language model over lower-cased words (refinery.lm)"


def draw(texts: pl.Series, budget: int, seed: int, name: str) -> pl.Series:
    """Documents in a seeded order until `budget` tokens, the last one cut to fit (its tokens joined by spaces)."""
    order = texts.drop_nulls().sample(fraction=1.0, shuffle=True, seed=seed)
    words = tokens(order)
    ends = words.list.len().cum_sum()
    if len(ends) == 0 or ends[-1] < budget:
        raise RecipeError(f"{name} holds {ends[-1] if len(ends) else 0} tokens, fewer than the budget of {budget}")
    n = int((ends < budget).sum())  # documents wholly inside the budget; the next one is cut
    left = budget - (int(ends[n - 1]) if n else 0)
    last = " ".join(words[n].to_list()[:left])
    return pl.concat([order.head(n), pl.Series([last])])


def interval(values: list[float]) -> tuple[float, float]:
    """The mean's 95% t-interval."""
    mean, half = float(np.mean(values)), 0.0
    if len(values) > 1:
        half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return mean - half, mean + half


def ablate(sides: dict[str, pl.Series], evaluation: pl.Series, budget: int, seeds: int = 3) -> dict:
    """Per side: the evaluation perplexity of the model trained on `budget` of its tokens, per seed, with its mean
    and interval; `best`, the side with the lowest mean, and `separated`, whether every interval is apart."""
    runs: dict[str, list[float]] = {name: [] for name in sides}
    for seed in range(seeds):
        drawn = {name: draw(texts, budget, seed, name) for name, texts in sides.items()}
        vocab = vocabulary(pl.concat(list(drawn.values())))
        for name, texts in drawn.items():
            runs[name].append(KneserNey.fit(texts, vocab).perplexity(evaluation, vocab))
    results = {
        name: {"perplexity": values, "mean": float(np.mean(values)), "interval": list(interval(values))}
        for name, values in runs.items()
    }
    spans = sorted(r["interval"] for r in results.values())
    return {
        "model": MODEL,
        "budget_tokens": budget,
        "seeds": seeds,
        "evaluation": {"documents": len(evaluation), "tokens": int(tokens(evaluation).list.len().sum())},
        "sides": results,
        "best": min(results, key=lambda name: results[name]["mean"]),
        "separated": all(a[1] < b[0] for a, b in pairwise(spans)),
    }


def evaluation_texts(files: list[Path], field: str = "text") -> pl.Series:
    """The evaluation files' texts (JSON lines with `field`, Parquet, or plain text), and their digest."""
    from refinery.clean.decontaminate import texts

    return pl.Series("text", [t for f in files for t in texts(f, field)], dtype=pl.String)


def save(version: Version, name: str, result: dict, files: list[Path]) -> Path:
    """The result beside the version, with the evaluation files' sha256."""
    digests = {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    path = version.path.parent / "ablations" / f"{version.id}--{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"version": f"{version.dataset}@{version.id}", **result}
    result["evaluation"] = {**result["evaluation"], "files": digests}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def ore_texts(recipe: Recipe, version: Version, workdir: Path) -> pl.Series:
    """The text of the ore the version was refined from, as ingest reads it (before deduplication and cleaning),
    read again from the recipe's sources; the ore must be the bytes the version read (its manifest's sha256)."""
    from refinery.ingest.readers import ingest_source
    from refinery.recipe import ore_files

    records, read = [], set()
    for source in recipe.sources:
        result = ingest_source(source, recipe.base_dir, workdir / source.name, ore_files(recipe, source))
        records.append(result.records)
        read |= {entry["sha256"] for entry in result.ore}
    made_from = {entry["sha256"] for entry in version.manifest["ore"]}
    if read != made_from:
        raise RecipeError(
            f"the ore of {version.dataset}@{version.id} has changed since it was refined ({len(made_from - read)} "
            f"of its files are not as it read them, {len(read - made_from)} are new): an ablation against it would "
            "compare other data"
        )
    return pl.scan_parquet(records).select("text").collect().get_column("text")
