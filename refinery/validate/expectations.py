"""Resolve an expectation named in a recipe (GX snake_case name) to its GX Core class, checking its kwargs."""

from __future__ import annotations

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


def check_declared(name: str, kwargs: dict[str, Any]) -> str | None:
    """None when `name(**kwargs)` is a valid GX expectation, else '<key>: <problem>' for the recipe error."""
    if expectation_class(name) is None:
        return f"expectation: unknown GX expectation {name!r} (use its snake_case name, e.g. expect_column_to_exist)"
    try:
        make_expectation(name, kwargs)
    except Exception as err:  # GX raises pydantic errors of several kinds; the message is what matters
        first = str(err).strip().splitlines()
        return f"kwargs: invalid for {name}: {' '.join(first[:3])}"
    return None
