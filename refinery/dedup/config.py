"""Deduplication as a recipe configures it (`dedup:`)."""

from typing import Literal

from pydantic import Field

from refinery.config import Flag, Strict


class NearDedup(Strict):
    enabled: Flag = True
    # chosen on real forum posts (benchmarks/dedup_real.py): 0.7 and word 3-grams reach F1 0.987 at precision 0.995
    # where 0.8 and 5-grams reach 0.942 (short posts lose too many 5-grams to a few edits); same speed
    threshold: float = Field(0.7, gt=0, lt=1)
    num_perm: int = Field(128, ge=16, le=1024)
    ngram: int = Field(3, ge=1, le=32)
    seed: int = 1
    verify: Flag = True  # exact Jaccard of candidate pairs, to cut LSH false positives
    keep: Literal["longest", "first"] = "longest"
    # datasketch's (false positive, false negative) weights for choosing bands x rows; by default recall-leaning
    # when verification removes the false positives, balanced otherwise
    weights: tuple[float, float] | None = None

    @property
    def lsh_weights(self) -> tuple[float, float]:
        return self.weights or ((0.1, 0.9) if self.verify else (0.5, 0.5))


class Dedup(Strict):
    exact: Flag = True
    near: NearDedup = NearDedup()
    against_previous: Flag = True  # dedup new ore against the previous published version
