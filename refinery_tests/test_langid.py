"""Batched language ID gives fastText's own labels and scores: on real posts, on other scripts, and on arbitrary
text (Hypothesis), against `fasttext.predict` on the same model file."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refinery.clean.langid import MAX_CHARS, detect, model_path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "news20-train.jsonl.gz"
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "40"))
SCORE_TOLERANCE = 1e-5  # float64 sums here, float32 in fastText


@pytest.fixture(scope="module")
def fasttext_model():
    import fasttext

    return fasttext.load_model(str(model_path()))


def reference(model, texts: list[str]) -> list[list[tuple[str, float]]]:
    """fastText's predictions for each text, every label with its probability, best first."""
    head = pl.Series(texts, dtype=pl.String).str.slice(0, MAX_CHARS).str.replace_all(r"[\s\x00]+", " ") + "\n"
    out = []
    for line in head:
        found = model.f.predict(line, -1, 0.0, "strict")
        out.append([(label.removeprefix("__label__"), float(p)) for p, label in found])
    return out


def assert_same_predictions(model, texts: list[str]) -> None:
    ours = detect(pl.Series(texts, dtype=pl.String))
    for text, (lang, score), expected in zip(texts, ours.iter_rows(), reference(model, texts), strict=True):
        best_label, best_score = expected[0]
        assert score == pytest.approx(best_score, abs=SCORE_TOLERANCE), text[:80]
        if lang != best_label:  # only a tie within float error may order two labels differently
            assert dict(expected)[lang] == pytest.approx(best_score, abs=SCORE_TOLERANCE), text[:80]


@pytest.mark.skipif(not CORPUS.exists(), reason=f"the shared real text is not at {CORPUS}")
def test_same_labels_as_fasttext_on_real_posts(fasttext_model):
    with gzip.open(CORPUS, "rt") as fh:
        texts = [json.loads(line)["text"].replace("\t", "\n") for line, _ in zip(fh, range(10_000), strict=False)]
    ours = detect(pl.Series(texts))
    expected = reference(fasttext_model, texts)
    labels = [e[0][0] for e in expected]
    assert ours.get_column("lang").to_list() == labels
    assert np.abs(ours.get_column("lang_score").to_numpy() - [e[0][1] for e in expected]).max() < SCORE_TOLERANCE


def test_same_predictions_in_other_scripts_and_edge_tokens(fasttext_model):
    texts = [
        "Ça va très bien, merci. Nous partons demain matin pour Lyon.",
        "Привет, мир! Как у тебя дела сегодня?",
        "東京は日本の首都です。人口はとても多いです。",
        "Der schnelle braune Fuchs springt über den faulen Hund.",
        "مرحبا بالعالم، كيف حالك اليوم؟",
        "",
        "   \t\n ",
        "</s> the end of a line </s>",
        "__label__de this text names a label __label__xx",
        "null\x00bytes\x00between words",
        "a\u00a0non-breaking\u2003space and\u3000ideographic space",
        "x" * (3 * MAX_CHARS),
    ]
    assert_same_predictions(fasttext_model, texts)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=20))
def test_same_predictions_on_arbitrary_text(fasttext_model, texts):
    assert_same_predictions(fasttext_model, texts)
