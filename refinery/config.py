"""The base of every configuration model (each step's, and the recipe that gathers them): strict, frozen."""

from pydantic import BaseModel, ConfigDict, StrictBool


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently switch a step off."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Flag = StrictBool  # `exact: 'no'` is an error, not a false
