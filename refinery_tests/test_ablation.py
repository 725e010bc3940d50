"""Ablations: the same small language model trained on equal token budgets of two sides, judged by perplexity on
evaluation text neither holds."""

import hashlib
import json
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.errors import RecipeError
from refinery.lm import KneserNey, ablate, draw, tokens, vocabulary
from refinery_tests.synth import BOILERPLATE, document

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", ".", ",", "big", "red"]


@settings(max_examples=25, deadline=None)
@given(
    docs=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30), min_size=2, max_size=40),
    context=st.tuples(st.integers(0, 18), st.integers(0, 18)),
)
def test_kneser_ney_gives_every_context_a_distribution_over_the_vocabulary(docs, context):
    """Summed over every word of the vocabulary (brute force), P(w | u, v) is 1 for any context, seen or not, and
    no word has probability 0."""
    texts = pl.Series([" ".join(d) for d in docs])
    vocab = vocabulary(texts, min_count=1)
    model = KneserNey.fit(texts, vocab)
    size = model.vocab_size
    u, v = (c % size for c in context)
    grams = pl.DataFrame({"u": [u] * size, "v": [v] * size, "w": list(range(size))}).cast(pl.UInt32)
    p = model.probabilities(grams)
    assert p.sum() == pytest.approx(1.0, abs=1e-9) and p.min() > 0


def test_a_draw_holds_exactly_the_budget_and_a_side_short_of_it_is_refused():
    rng = random.Random(1)
    texts = pl.Series([document(rng) for _ in range(50)])
    for seed in range(3):
        assert tokens(draw(texts, 1234, seed, "side")).list.len().sum() == 1234
    assert draw(texts, 1234, 0, "side").to_list() != draw(texts, 1234, 1, "side").to_list()
    with pytest.raises(RecipeError, match="fewer than the budget"):
        draw(texts.head(2), 10_000, 0, "side")


def test_clean_training_text_beats_boilerplate_laden_text_and_a_side_equal_to_the_other_does_not():
    """Half the noisy side's documents are boilerplate: on clean held-out text its model is worse in every seed,
    with intervals apart. Two sides of the same texts draw the same documents: equal, never separated."""
    rng = random.Random(3)
    clean = pl.Series([document(rng) for _ in range(1500)])
    noisy = pl.Series([document(rng) if i % 2 else BOILERPLATE + f" #{i}" for i in range(1500)])
    held_out = pl.Series([document(rng) for _ in range(200)])
    result = ablate({"clean": clean, "noisy": noisy}, held_out, budget=40_000)
    assert result["best"] == "clean" and result["separated"]
    sides = result["sides"]
    assert all(c < n for c, n in zip(sides["clean"]["perplexity"], sides["noisy"]["perplexity"], strict=True))
    same = ablate({"a": clean, "b": clean}, held_out, budget=40_000)
    assert same["sides"]["a"]["perplexity"] == same["sides"]["b"]["perplexity"] and not same["separated"]


def test_refinery_ablate_compares_a_version_with_its_ore_and_keeps_the_result_beside_it(
    small_recipe, small_ore, write_recipe, dagster_home, tmp_path, capsys
):
    """`refinery ablate` on the sample: refined against the ore it was made from, on held-out text; the result is
    saved beside the version with the evaluation file's sha256. Ore changed since the version is refused."""
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    version = Catalog(tmp_path / "refined").version("small")
    rng = random.Random(5)
    evaluation = tmp_path / "eval.jsonl"
    evaluation.write_text("".join(json.dumps({"text": document(rng)}) + "\n" for _ in range(30)))
    args = ["ablate", "small", "--against", "ore", "--recipe", str(recipe_path), "--eval", str(evaluation)]
    assert main([*args, "--root", str(tmp_path / "refined"), "--tokens", "2000"]) == 0
    saved = json.loads((tmp_path / "refined" / "small" / "ablations" / f"{version.id}--ore.json").read_text())
    assert saved["version"] == f"small@{version.id}" and saved["budget_tokens"] == 2000
    assert set(saved["sides"]) == {"refined", "ore"} and all(len(s["perplexity"]) == 3 for s in saved["sides"].values())
    assert saved["evaluation"]["files"] == {str(evaluation): hashlib.sha256(evaluation.read_bytes()).hexdigest()}
    assert "refined" in capsys.readouterr().out

    posts = small_ore / "forums" / "posts.jsonl"
    posts.write_text(posts.read_text() + json.dumps({"post_id": "late", "body": "A post added later. " * 10}) + "\n")
    assert main([*args, "--root", str(tmp_path / "refined"), "--tokens", "2000"]) == 2
    assert "has changed since it was refined" in capsys.readouterr().out


def _published_metadata(version) -> dict:
    """What the UI shows of the published asset's latest materialization."""
    import dagster as dg

    from refinery.instance import get_instance

    event = get_instance().get_latest_materialization_event(dg.AssetKey([version.dataset, "published"]))
    assert event.asset_materialization.metadata["version"].value == version.id
    return event.asset_materialization.metadata


def test_with_evaluation_text_a_version_is_quality_assured_only_when_a_model_shows_the_gain(
    small_recipe, small_ore, write_recipe, dagster_home, tmp_path
):
    """`publish.ablation`: the version holds the ablation of its refined text against the run's ore. Ore heavy
    with boilerplate (which refining removes) against clean evaluation text: refined wins with its interval apart,
    and the version is quality_assured on that evidence. The same data judged on boilerplate: no gain, and the
    version stops at convenient."""
    rng = random.Random(9)
    posts = small_ore / "forums" / "posts.jsonl"
    junk = [{"post_id": f"junk{i}", "body": BOILERPLATE + f" Offer {i % 7}."} for i in range(150)]
    posts.write_text(posts.read_text() + "".join(json.dumps(j) + "\n" for j in junk))
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(json.dumps({"text": document(rng)}) + "\n" for _ in range(60)))
    spam = tmp_path / "spam.jsonl"
    spam.write_text("".join(json.dumps({"text": BOILERPLATE + f" Offer {i}."}) + "\n" for i in range(60)))
    levels = {}
    for name, evaluation in (("clean", clean), ("spam", spam)):
        recipe = {**small_recipe, "output": name, "publish": {"ablation": {"eval": [evaluation.name]}}}
        assert main(["run", "--recipe", str(write_recipe(recipe, f"{name}.yaml"))]) == 0
        version = Catalog(tmp_path / name).version("small")
        version.verify()
        stored = json.loads((version.path / "ablation.json").read_text())
        assert stored == version.manifest["ablation"] and set(stored["sides"]) == {"refined", "ore"}
        (quality,) = [lv for lv in version.manifest["readiness"]["levels"] if lv["name"] == "quality_assured"]
        (line,) = [e for e in quality["evidence"] if "seeds: evaluation perplexity" in e["text"]]
        levels[name] = (version.manifest["readiness"]["level"], line["holds"], stored["best"])
        assert "## Measured on a model" in (version.path / "DATACARD.md").read_text()
        shown = _published_metadata(version)["ablation"].data
        assert shown["best"] == stored["best"] and shown["apart"] == stored["separated"]
    assert levels == {"clean": ("quality_assured", True, "refined"), "spam": ("convenient", False, "ore")}
