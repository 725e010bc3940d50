"""Shared fixtures: small real ore written by the tests, and recipes over it."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml

from refinery.records import INGESTED_SCHEMA
from refinery_tests.synth import document, near_variant


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)


def ingested_frame(texts: list[str], prefix: str = "d") -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame(
        {
            "doc_id": [f"{prefix}{i}" for i in range(n)],
            "text": texts,
            "source": ["s"] * n,
            "source_id": [str(i) for i in range(n)],
            "source_uri": ["f.jsonl"] * n,
            "line": list(range(1, n + 1)),
            "title": [None] * n,
            "url": [None] * n,
        },
        schema=INGESTED_SCHEMA,
    )


def write_yaml(folder: Path, data: dict, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def write_recipe(tmp_path: Path):
    """Write a recipe (dict) next to the ore and return its path."""
    return lambda data, name="recipe.yaml": write_yaml(tmp_path, data, name)


def write_small_ore(folder: Path, rng: random.Random) -> Path:
    """~150 forum posts (with exact and near duplicates, junk, PII and two malformed lines) and a CSV export."""
    ore = folder / "ore"
    (ore / "forums").mkdir(parents=True)
    (ore / "csv").mkdir()
    posts = []
    for i in range(120):
        if i and i % 10 == 0:
            body = posts[i - 3]["body"]
        elif i and i % 10 == 5:
            body = near_variant(rng, posts[i - 4]["body"])
        elif i % 17 == 0:
            body = "thanks!"
        else:
            body = document(rng)
        posts.append({"post_id": f"p{i}", "body": body})
    posts[7]["body"] += "\n\nWrite to jane.roe@example.com anytime."
    lines = [json.dumps(p) for p in posts]
    lines.insert(30, "{not json")
    lines.insert(60, '{"post_id": "p-empty"}')
    (ore / "forums" / "posts.jsonl").write_text("\n".join(lines) + "\n")
    rows = ["id,body"] + [f'c{i},"{document(rng)}"' for i in range(30)] + ["c99,too,many,fields"]
    (ore / "csv" / "export.csv").write_text("\n".join(rows) + "\n")
    return ore


@pytest.fixture
def small_ore(tmp_path: Path, rng: random.Random) -> Path:
    return write_small_ore(tmp_path, rng)


def small_recipe_data() -> dict:
    """Two sources over `small_ore`: forum posts (JSONL) and a CSV export."""
    return {
        "dataset": "small",
        "output": "refined",
        "sources": [
            {
                "name": "forums",
                "format": "jsonl",
                "path": "ore/forums/*.jsonl",
                "text_field": "body",
                "id_field": "post_id",
                "license": "CC-BY-4.0",
            },
            {
                "name": "export",
                "format": "csv",
                "path": "ore/csv/*.csv",
                "text_field": "body",
                "id_field": "id",
                "license": "proprietary-internal",
            },
        ],
        "clean": {"pii": ["email", "phone", "ip"], "filters": {"min_words": 20, "languages": ["en"]}},
    }


@pytest.fixture
def small_recipe(small_ore: Path) -> dict:
    return small_recipe_data()


@pytest.fixture(scope="session", autouse=True)
def every_manifest_matches_the_shipped_schema(tmp_path_factory) -> Iterator[None]:
    """After the session, every manifest.json the suite's runs wrote is checked against the JSON Schema that ships
    with the package, by `jsonschema` (not by the model that wrote it)."""
    yield
    import jsonschema

    from refinery.publish.manifest import SCHEMA_PATH

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    for path in tmp_path_factory.getbasetemp().rglob("manifest.json"):
        try:
            manifest = json.loads(path.read_text())
        except ValueError:
            continue  # a test cut it short on purpose (the catalog must refuse it)
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(manifest)]
        assert not errors, f"{path}: {errors[:3]}"


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch) -> Path:
    """A real on-disk Dagster instance (SQLite) for this test."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on a free port: a stand-in for the protocol, for every test that needs one."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_environment(endpoint: str) -> dict[str, str]:
    """Endpoint and credentials as a deployment sets them: in the environment, which workers inherit."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
