from pathlib import Path

import pytest

from refinery.errors import RecipeError
from refinery.recipe import load_recipe, ore_files

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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dedup": {"exact": "no"}}, "dedup.exact: Input should be a valid boolean"),
        (
            {"automation": {"schedule": "every day at noon"}},
            "automation.schedule: 'every day at noon' is not a valid cron string",
        ),
        (
            {"output": "ore/out", "sources": [{"name": "a", "format": "jsonl", "path": "ore/**/*.jsonl"}]},
            "overlaps the ore of sources[0]",
        ),
        (
            {"output": "ore/out", "sources": [{"name": "a", "format": "jsonl", "path": "ore/*/*.jsonl"}]},
            "overlaps the ore of sources[0]",
        ),
        ({"output": "."}, "overlaps the ore of sources[0]"),
        (
            {"sources": [{"name": "etc", "format": "text", "path": "../../../../etc/host*"}]},
            "sources[0].path: '../../../../etc/host*' lies outside the ore roots",
        ),
        ({"sources": [{"name": "a", "format": "jsonl", "path": "*.jsonl", "encoding": "klingon"}]}, "unknown encoding"),
    ],
)
def test_recipes_that_cross_a_boundary_are_refused(small_recipe, write_recipe, change, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(write_recipe({**small_recipe, **change}))
    assert message in str(err.value)


def test_output_that_is_a_file_is_refused(small_recipe, write_recipe, tmp_path):
    (tmp_path / "out.txt").write_text("x")
    with pytest.raises(RecipeError, match="exists and is not a folder"):
        load_recipe(write_recipe({**small_recipe, "output": "out.txt"}))


def test_symlinks_out_of_the_ore_roots_are_refused_unless_followed(small_recipe, write_recipe, small_ore, tmp_path):
    secrets = tmp_path.parent / f"{tmp_path.name}-secrets"
    secrets.mkdir()
    (secrets / "keys.jsonl").write_text('{"post_id": "s", "body": "the password is hunter2"}\n')
    (small_ore / "forums" / "leak.jsonl").symlink_to(secrets / "keys.jsonl")
    with pytest.raises(RecipeError, match=r"leak\.jsonl resolves to .*outside the ore roots"):
        load_recipe(write_recipe(small_recipe))
    followed = {**small_recipe["sources"][0], "follow_symlinks": True}
    recipe = load_recipe(write_recipe({**small_recipe, "sources": [followed]}))
    assert any(p.name == "leak.jsonl" for p in ore_files(recipe, recipe.sources[0]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n", "aliases"),
        ("dataset: one\ndataset: two\n", "key 'dataset' appears twice"),
    ],
)
def test_yaml_aliases_and_repeated_keys_are_refused(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=message):
        load_recipe(path)


def test_recipe_encodings_and_size(small_recipe, write_recipe, tmp_path):
    path = write_recipe(small_recipe)
    text = path.read_text() + "description: café\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(RecipeError, match="must be UTF-8 text"):
        load_recipe(path)
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(RecipeError, match="must be UTF-8 text"):
        load_recipe(path)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())  # a UTF-8 BOM is fine
    assert load_recipe(path).description == "café"
    path.write_text("description: " + "x" * (1 << 20))
    with pytest.raises(RecipeError, match="may not exceed"):
        load_recipe(path)


def test_errors_print_verbatim(small_recipe, write_recipe, capsys):
    from refinery.cli import main

    bad = {**small_recipe, "sources": [{**small_recipe["sources"][0], "path": "ore/[a-z0-9]*.none"}]}
    assert main(["run", "--recipe", str(write_recipe(bad))]) == 2
    assert "'ore/[a-z0-9]*.none'" in capsys.readouterr().out


def test_every_shipped_recipe_is_its_own_group_and_job():
    from refinery.definitions import build_definitions
    from refinery.instance import recipe_paths

    paths = recipe_paths()
    assert {p.name for p in paths} == {"forum-en.yaml", "support-docs.yaml", "web-en.yaml"}
    defs = build_definitions(paths)
    groups = {k.path[0] for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert groups == {"forum_en", "support_docs", "web_en"}
    assert {j.name for j in defs.jobs} >= {"refine_forum_en", "refine_support_docs", "refine_web_en"}
    assert [s.cron_schedule for s in defs.schedules if s.name == "refine_support_docs_schedule"] == ["0 4 * * *"]


def test_valid_expectations_are_remembered_so_later_loads_skip_gx(small_recipe, write_recipe, tmp_path, monkeypatch):
    from refinery.validate import expectations

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    declared = {"expectation": "expect_column_to_exist", "kwargs": {"column": "lang"}}
    path = write_recipe({**small_recipe, "validate": {"expectations": [declared]}})
    load_recipe(path)
    assert (tmp_path / "cache" / "refinery" / "valid-expectations.json").exists()

    def no_gx(name):
        raise AssertionError("GX was consulted again")

    monkeypatch.setattr(expectations, "expectation_class", no_gx)
    load_recipe(path)  # remembered: GX is not imported or asked
    other = write_recipe({**small_recipe, "validate": {"expectations": [{**declared, "kwargs": {"column": "x"}}]}})
    with pytest.raises(AssertionError, match="consulted again"):
        load_recipe(other)  # other kwargs: checked afresh


def test_file_uris_are_refused_so_ore_roots_apply(tmp_path):
    from refinery.errors import RecipeError
    from refinery.recipe import parse_recipe

    data = {"dataset": "t", "sources": [{"name": "etc", "format": "text", "path": "file:///etc/*.conf"}]}
    with pytest.raises(RecipeError, match=r"sources\[0\]\.path: .*write the path itself, so that ore_roots apply"):
        parse_recipe(data, tmp_path)


def test_names_too_long_for_a_folder_are_refused_at_load(tmp_path):
    from refinery.errors import RecipeError
    from refinery.recipe import parse_recipe

    (tmp_path / "a.jsonl").write_text("{}\n")
    data = {"dataset": "d" * 101, "sources": [{"name": "a", "format": "jsonl", "path": "a.jsonl"}]}
    with pytest.raises(RecipeError, match="dataset: String should have at most 100 characters"):
        parse_recipe(data, tmp_path)


def test_a_fifo_among_the_drops_is_not_a_drop_file(tmp_path):
    """Reading a named pipe blocks until someone writes: drops, like globs, are regular files and folders."""
    import os

    from refinery.recipe import parse_recipe

    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "a.jsonl").write_text('{"t": "x"}\n')
    os.mkfifo(drops / "b.jsonl")
    data = {"dataset": "d", "drops": "drops/*", "sources": [{"name": "s", "format": "jsonl", "path": "*.jsonl"}]}
    recipe = parse_recipe(data, tmp_path)
    assert [p.name for p in ore_files(recipe, recipe.sources[0])] == ["a.jsonl"]
