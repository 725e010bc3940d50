"""A learned quality score, as DCLM's and FineWeb-Edu's classifiers (and NeMo Curator's and datatrove's fastText
steps): a linear classifier over hashed word uni- and bigrams, trained in the run on a reference corpus the recipe
names (positives: writing a model should learn from) against a sample of the ore (negatives), or read from a model
file the recipe names. Each document gets `quality_score`, the classifier's probability that it reads like the
reference; `min_score` or `keep_top` removes the rest as `quality`. Texts people labelled (`labelled`) join the
training, a `keep` beside the reference and a `drop` beside the ore: on WCXB's hand-labelled development pages,
cross-validated, they raise the ROC AUC from 0.918 to 0.951 (`benchmarks/quality_bench.py`).

fastText's model is the same family (a linear model over hashed n-grams), but its training is reproducible only on
one thread and its Python package conflicts with the language-ID one; scikit-learn's liblinear solver is
deterministic: the same texts and seed give the same weights, byte for byte. The model is a Parquet file (each
feature's weight, and the bias and features in its metadata): no pickle, so loading a model runs no code.

Memory: the reference texts and the ore sample while training; a batch's sparse features while scoring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from refinery.clean.decontaminate import rows

FORMAT = "refinery-quality/1"
FEATURES = 1 << 20  # hashed n-gram buckets (fastText's default is 2M)
NGRAMS = (1, 2)


def _vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer  # imported here: seconds, for recipes that score

    return HashingVectorizer(
        n_features=FEATURES,
        ngram_range=NGRAMS,
        alternate_sign=False,
        token_pattern=r"(?u)\b\w+\b",
        lowercase=True,
        norm="l2",
        dtype=np.float32,
    )


@dataclass(frozen=True)
class Model:
    weights: np.ndarray  # float32, one per hashed feature
    bias: float

    def score(self, texts: pl.Series) -> pl.Series:
        """P(reference | text) of each text, as `quality_score`."""
        if texts.is_empty():  # the hashing vectorizer fails on no texts
            return pl.Series("quality_score", [], dtype=pl.Float64)
        features = _vectorizer().transform(texts.fill_null("").to_list())
        logits = features @ self.weights.astype(np.float64) + self.bias
        return pl.Series("quality_score", 1 / (1 + np.exp(-logits)), dtype=pl.Float64)

    def save(self, path: Path) -> None:
        """Nonzero weights by feature, the bias and the featurization in the file's metadata; deterministic bytes."""
        used = np.flatnonzero(self.weights)
        table = pa.table({"feature": pa.array(used, pa.uint32()), "weight": pa.array(self.weights[used], pa.float32())})
        meta = {"format": FORMAT, "features": FEATURES, "ngrams": list(NGRAMS), "bias": self.bias}
        pq.write_table(table.replace_schema_metadata({"refinery": json.dumps(meta)}), path)

    @classmethod
    def load(cls, path: Path) -> Model:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as err:
            raise ValueError(f"{path}: not a readable model: {err}") from None
        meta = json.loads((table.schema.metadata or {}).get(b"refinery", b"{}"))
        if meta.get("format") != FORMAT or meta.get("features") != FEATURES or meta.get("ngrams") != list(NGRAMS):
            raise ValueError(f"{path}: not a {FORMAT} model with {FEATURES} features of {NGRAMS}-grams")
        weights = np.zeros(FEATURES, dtype=np.float32)
        weights[table.column("feature").to_numpy()] = table.column("weight").to_numpy()
        return cls(weights, float(meta["bias"]))


def train(positives: list[str], negatives: list[str], seed: int) -> Model:
    """Logistic regression (liblinear, classes weighted to balance) of reference against ore."""
    from sklearn.linear_model import LogisticRegression

    if not positives or not negatives:
        raise ValueError(f"training needs both sides: {len(positives)} reference and {len(negatives)} ore texts")
    features = _vectorizer().transform([*positives, *negatives])
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    fit = LogisticRegression(solver="liblinear", class_weight="balanced", random_state=seed, max_iter=1000)
    fit.fit(features, labels)
    return Model(fit.coef_[0].astype(np.float32), float(fit.intercept_[0]))


def labelled_texts(files: list[Path], field: str, label_field: str) -> tuple[list[str], list[str]]:
    """The texts people kept and those they dropped, from JSON lines (optionally gzipped) or Parquet files whose
    rows' `label_field` says `keep` or `drop`; any other label is an error naming its file and row, never a guess."""
    sides: dict[str, list[str]] = {"keep": [], "drop": []}
    for path in files:
        for number, (text, label) in enumerate(rows(path, [field, label_field]), 1):
            if not isinstance(label, str) or label not in sides:
                raise ValueError(f"{path}: row {number}: {label_field} is {label!r}, neither keep nor drop")
            sides[label].append(str(text or ""))
    return sides["keep"], sides["drop"]


def ore_sample(records: Path, size: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two disjoint seeded samples of the ore's rows, of up to `size` each: negatives to train on, and held-out
    rows whose scores set `keep_top`'s threshold. Only the sampled rows are held."""
    rows = pq.ParquetFile(records).metadata.num_rows
    order = np.random.default_rng(seed).permutation(rows)
    half = min(size, rows // 2)
    picked = pl.DataFrame({"index": order[: 2 * half].astype(np.uint32), "train": np.arange(2 * half) < half})
    sample = (
        pl.scan_parquet(records)
        .with_row_index()
        .join(picked.lazy(), on="index")
        .collect(engine="streaming")
        .sort("index")
    )
    return sample.filter("train").drop("index", "train"), sample.filter(~pl.col("train")).drop("index", "train")


def threshold(model: Model, held_out: list[str], keep_top: float) -> float:
    """The score above which `keep_top` of the held-out ore lies: the cut that keeps about that share."""
    return float(np.quantile(model.score(pl.Series(held_out, dtype=pl.String)).to_numpy(), 1 - keep_top))
