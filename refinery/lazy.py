"""Packages whose public names load their modules when first used: reading a step's configuration (every
recipe load, every command) does not pay for the step's compiled kernels, GX or DuckDB."""

import importlib
from collections.abc import Callable


def exports(package: str, where: dict[str, str]) -> Callable[[str], object]:
    """The package's `__getattr__`: `where` maps each public name to the module that defines it."""

    def __getattr__(name: str) -> object:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
