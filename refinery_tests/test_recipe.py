from pathlib import Path

import pytest

from refinery.errors import RecipeError
from refinery.recipe import load_recipe

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "recipes" / "forum-en.yaml"


def test_sample_recipe_loads_with_defaults_filled_in():
    recipe = load_recipe(SAMPLE)
    assert recipe.dataset == "forum-en"
    assert [s.name for s in recipe.sources] == ["forums", "helpdesk", "news"]
    assert recipe.dedup.near.num_perm == 128
    assert recipe.resolved()["clean"]["filters"]["max_duplicate_lines"] == 0.3
    assert len(recipe.hash) == 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"sources": [{"name": "a", "format": "jsonl", "path": "ore/forums/*.jsonl", "txt_field": "x"}]},
            "sources[0].txt_field: unknown key",
        ),
        ({"dedup": {"near": {"threshold": "high"}}}, "dedup.near.threshold"),
        ({"dedup": {"near": {"threshold": 1.5}}}, "dedup.near.threshold"),
        ({"sources": [{"name": "a", "format": "xml", "path": "x"}]}, "sources[0].format"),
        ({"sources": [{"name": "a", "format": "jsonl", "path": "nowhere/*.jsonl"}]}, "sources[0].path: no files match"),
        ({"clean": {"filters": {"min_wrds": 3}}}, "clean.filters.min_wrds: unknown key"),
        (
            {"validate": {"expectations": [{"expectation": "expect_the_moon"}]}},
            "validate.expectations[0].expectation: unknown GX expectation 'expect_the_moon'",
        ),
        (
            {
                "validate": {
                    "expectations": [
                        {"expectation": "expect_column_mean_to_be_between", "kwargs": {"colum": "n_words"}}
                    ]
                }
            },
            "validate.expectations[0].kwargs: invalid for expect_column_mean_to_be_between",
        ),
        (
            {
                "validate": {
                    "expectations": [
                        {
                            "expectation": "expect_column_values_to_not_be_null",
                            "kwargs": {"column": "text"},
                            "severity": "fatal",
                        }
                    ]
                }
            },
            "validate.expectations[0].severity",
        ),
    ],
)
def test_malformed_recipe_names_the_key(small_recipe, write_recipe, change, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(write_recipe({**small_recipe, **change}))
    assert message in str(err.value)


def test_missing_recipe_file_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: [unclosed")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
