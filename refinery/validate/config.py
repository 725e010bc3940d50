"""The recipe's own expectations (`validate:`), beside the built-in suite."""

from typing import Literal

from refinery.config import Strict


class Expectation(Strict):
    expectation: str
    kwargs: dict = {}
    severity: Literal["error", "warn"] = "error"


class Validate(Strict):
    expectations: list[Expectation] = []
