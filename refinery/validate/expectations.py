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


def regex_problem(regex: str) -> str | None:
    """Why GX cannot evaluate `regex` on any text in bounded time, or None. GX searches with Python's `re`, a
    backtracking engine: a pattern it cannot compile fails every row, and an unbounded repeat inside another
    (`(a+)+`, `(\\w*\\s?)*`) can take exponential time on one line."""
    import re
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    try:
        parsed = _parser.parse(regex)
    except re.error as err:
        return f"Python's re cannot compile it ({err}), and GX evaluates it with re"
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))

    def nested(items: Any, inside: bool) -> bool:
        for op, arg in items:
            if op in repeats:
                _, high, sub = arg
                unbounded = high == sre.MAXREPEAT
                if (unbounded and inside) or nested(sub, inside or unbounded):
                    return True
            elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP, sre.ASSERT, sre.ASSERT_NOT):
                if nested(arg[-1], inside):
                    return True
            elif op == sre.BRANCH and any(nested(branch, inside) for branch in arg[1]):
                return True
        return False

    if nested(parsed, False):
        return "it repeats an unbounded repeat, which backtracks exponentially in GX's Python re; bound the inner one"
    return None


def check_declared(name: str, kwargs: dict[str, Any]) -> str | None:
    """None when `name(**kwargs)` is a valid GX expectation, else '<key>: <problem>' for the recipe error."""
    if isinstance(kwargs.get("regex"), str) and (problem := regex_problem(kwargs["regex"])):
        return f"kwargs.regex: {kwargs['regex']!r}: {problem}"  # before the cache: it remembers older verdicts
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
