"""A small language model to measure data with: an interpolated Kneser-Ney trigram model over words (Chen and
Goodman's modified form with one discount per order), counted and queried with Polars joins.

Why this model for ablations: it trains in seconds on a CPU, training is exact (no seed, no optimizer: the same
text gives the same model), and its held-out perplexity rises with what degrades web text for larger models too
(boilerplate, repeated text, fragments, noise), which is how FineWeb and DCLM compared data before training
transformers on it. A tiny transformer would add a deep-learning runtime and minutes per seed for a signal this
model already shows.

Words are lower-cased `\\w+` and punctuation tokens; each document is wrapped in `<s> <s> ... </s>`. The vocabulary
is fixed before training (`vocabulary`), so models trained on different data share it and their perplexities on
the same evaluation text compare; words outside it are `<unk>`.

`ablate` compares data with it: the model is trained on an equal token budget of each side and scored by its
perplexity on evaluation text neither side holds, once per seed (a seed draws each side's documents in another
order); each side gets its mean perplexity with a 95% t-interval over the seeds, and the result says whether the
intervals are apart. Each seed's vocabulary is the words seen twice in the sides' draws together, so the models
share it. A side holding fewer tokens than the budget is an error, never a smaller draw: equal budgets are the point.

Memory: the distinct trigrams of the training text and the evaluation text's trigrams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import polars as pl
from scipy import stats

from refinery.errors import RecipeError

TOKEN = r"\w+|[^\w\s]"
UNK, BOS, EOS = 0, 1, 2  # ids of <unk>, <s>, </s>; words from 3


def tokens(texts: pl.Series) -> pl.Series:
    """Each text as its list of lower-cased word and punctuation tokens."""
    return texts.fill_null("").str.to_lowercase().str.extract_all(TOKEN)


def vocabulary(texts: pl.Series, min_count: int = 2) -> pl.DataFrame:
    """(token, id) of the tokens seen at least `min_count` times, most frequent first; ids from 3."""
    counted = tokens(texts).explode().drop_nulls().alias("token").value_counts(name="n")
    kept = counted.filter(pl.col("n") >= min_count).sort(["n", "token"], descending=[True, False])
    return kept.select("token", id=pl.int_range(3, pl.len() + 3, dtype=pl.UInt32))


def trigrams(texts: pl.Series, vocab: pl.DataFrame) -> pl.DataFrame:
    """(u, v, w) ids of every predicted token of every text, `</s>` included, with two `<s>` of context."""
    ids = (
        pl.DataFrame({"token": tokens(texts)})
        .with_row_index("doc")
        .explode("token")
        .drop_nulls("token")
        .join(vocab, on="token", how="left", maintain_order="left")
        .select("doc", w=pl.col("id").fill_null(UNK))
    )
    ends = pl.DataFrame({"doc": pl.Series(range(len(texts)), dtype=pl.UInt32), "w": EOS}, schema=ids.schema)
    seq = pl.concat([ids, ends]).sort("doc", maintain_order=True)
    prev = pl.col("w").shift(1).over("doc").fill_null(BOS)
    return seq.select(u=pl.col("w").shift(2).over("doc").fill_null(BOS), v=prev, w="w").cast(pl.UInt32)


def _discount(counts: pl.Series) -> float:
    """Ney's estimate n1 / (n1 + 2 n2); without singletons it would be 0, leaving unseen words no mass, so then
    the usual fixed 0.75."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 else 0.75


@dataclass(frozen=True)
class KneserNey:
    """The counts an interpolated Kneser-Ney trigram model needs, and its discounts."""

    c3: pl.DataFrame  # (u, v, w, c): trigram counts
    ctx3: pl.DataFrame  # (u, v, c_uv, t_uv): count and distinct followers of each bigram context
    n2: pl.DataFrame  # (v, w, n_vw): distinct u before each bigram (its continuation count)
    ctx2: pl.DataFrame  # (v, n_v, t_v): continuation counts summed over w, and distinct w, per v
    n1: pl.DataFrame  # (w, n_w): distinct v before each word
    bigram_types: int
    word_types: int
    vocab_size: int
    d: tuple[float, float, float]  # discounts of orders 1, 2, 3

    @classmethod
    def fit(cls, texts: pl.Series, vocab: pl.DataFrame) -> KneserNey:
        c3 = trigrams(texts, vocab).group_by("u", "v", "w").agg(c=pl.len())
        n2 = c3.group_by("v", "w").agg(n_vw=pl.len())
        n1 = n2.group_by("w").agg(n_w=pl.len())
        return cls(
            c3=c3,
            ctx3=c3.group_by("u", "v").agg(c_uv=pl.col("c").sum(), t_uv=pl.len()),
            n2=n2,
            ctx2=n2.group_by("v").agg(n_v=pl.col("n_vw").sum(), t_v=pl.len()),
            n1=n1,
            bigram_types=n2.height,
            word_types=n1.height,
            vocab_size=vocab.height + 3,
            d=(_discount(n1.get_column("n_w")), _discount(n2.get_column("n_vw")), _discount(c3.get_column("c"))),
        )

    def probabilities(self, grams: pl.DataFrame) -> pl.Series:
        """P(w | u, v) of each (u, v, w) row."""
        d1, d2, d3 = self.d
        rows = (
            grams.with_row_index("i")
            .join(self.c3, on=["u", "v", "w"], how="left")
            .join(self.ctx3, on=["u", "v"], how="left")
            .join(self.n2, on=["v", "w"], how="left")
            .join(self.ctx2, on="v", how="left")
            .join(self.n1, on="w", how="left")
            .sort("i")
            .fill_null(0)
        )
        uniform = 1 / self.vocab_size
        p1 = ((pl.col("n_w") - d1).clip(0) + d1 * self.word_types * uniform) / self.bigram_types
        p2 = (
            pl.when(pl.col("n_v") > 0)
            .then(((pl.col("n_vw") - d2).clip(0) + d2 * pl.col("t_v") * p1) / pl.col("n_v"))
            .otherwise(p1)
        )
        p3 = (
            pl.when(pl.col("c_uv") > 0)
            .then(((pl.col("c") - d3).clip(0) + d3 * pl.col("t_uv") * p2) / pl.col("c_uv"))
            .otherwise(p2)
        )
        return rows.select(p=p3).get_column("p")

    def perplexity(self, texts: pl.Series, vocab: pl.DataFrame) -> float:
        """exp of the mean negative log-probability of every token of `texts` (their `</s>` included)."""
        p = self.probabilities(trigrams(texts, vocab))
        return math.exp(-p.log().mean())


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


def ablate(sides: dict[str, pl.Series], evaluation: pl.Series, budget: int | None = None, seeds: int = 3) -> dict:
    """Per side: the evaluation perplexity of the model trained on `budget` of its tokens (default: half the
    smaller side's, so that seeds draw different documents), per seed, with its mean and interval; `best`, the side
    with the lowest mean, and `separated`, whether every interval is apart."""
    budget = budget or min(int(tokens(texts).list.len().sum()) for texts in sides.values()) // 2
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
