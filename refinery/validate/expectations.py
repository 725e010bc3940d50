"""Resolve an expectation named in a recipe (GX snake_case name) to its GX Core class, checking its kwargs."""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any


def expectation_class(name: str) -> type | None:
    import great_expectations as gx

    cls = getattr(gx.expectations, "".join(part.capitalize() for part in name.split("_")), None)
    return cls if isinstance(cls, type) else None


def make_expectation(name: str, kwargs: dict[str, Any]) -> Any:
    cls = expectation_class(name)
    if cls is None:
        raise ValueError(f"unknown GX expectation {name!r}")
    return cls(**kwargs)


def _cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "refinery" / "valid-expectations.json"


def _key(name: str, kwargs: dict[str, Any]) -> str:
    """The expectation as declared, under the installed GX release (read from its metadata: no import)."""
    payload = json.dumps([version("great_expectations"), name, kwargs], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _known_valid() -> set[str]:
    try:
        return set(json.loads(_cache().read_text()))
    except (OSError, ValueError):
        return set()


def _remember_valid(key: str) -> None:
    """Importing GX takes seconds; an expectation found valid once is not checked again by later loads."""
    path = _cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(_known_valid() | {key})))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the check next time


def check_declared(name: str, kwargs: dict[str, Any]) -> str | None:
    """None when `name(**kwargs)` is a valid GX expectation, else '<key>: <problem>' for the recipe error."""
    key = _key(name, kwargs)
    if key in _known_valid():
        return None
    if expectation_class(name) is None:
        return f"expectation: unknown GX expectation {name!r} (use its snake_case name, e.g. expect_column_to_exist)"
    try:
        make_expectation(name, kwargs)
    except Exception as err:  # GX raises pydantic errors of several kinds; the message is what matters
        first = str(err).strip().splitlines()
        return f"kwargs: invalid for {name}: {' '.join(first[:3])}"
    _remember_valid(key)
    return None
