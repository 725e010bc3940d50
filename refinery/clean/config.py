"""Cleaning as a recipe configures it (`clean:`). The bounded filters' keys, types and defaults come from the
filter registry (`refinery/clean/registry.py`): a filter is added there, not here."""

from typing import Literal

from pydantic import Field, create_model, model_validator

from refinery.clean.lines import Lines
from refinery.clean.registry import BOUNDS
from refinery.config import Flag, Strict

PiiKind = Literal["email", "phone", "ip", "card", "national_id"]


class Normalize(Strict):
    fix_text: Flag = True  # ftfy: mojibake, HTML entities, curly quotes left alone
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    strip_control: Flag = True
    whitespace: Flag = True


Filters = create_model(
    "Filters",
    __base__=Strict,
    __doc__="Quality filters; null switches one off. Bounds, defaults and sources: refinery/clean/registry.py.",
    **{b.key: (b.kind | None, b.default) for b in BOUNDS},
    lorem_ipsum=(Flag, True),  # C4's rule
    curly_bracket=(Flag, False),  # C4's rule; off: on real forum posts it removes good technical answers
    languages=(list[str] | None, None),
)


class Structure(Strict):
    """Forum and mail structure stripped before language ID, PII and the filters (see refinery/clean/structure.py).
    Off by default: on real Usenet posts it halves curly_bracket and cuts min_language_score removals, but the
    stripped replies are short, so min_words: 50 then removes a quarter of them (benchmarks/filters_real.py)."""

    headers: Flag = False  # a leading block of `Name: value` mail/Usenet header lines
    quotes: Flag = False  # `>`-quoted lines and the "In article ..., X writes:" attributions
    signature: Flag = False  # everything after a `-- ` line


class Decontaminate(Strict):
    """Evaluation sets whose n-grams no refined document may share (`refinery/clean/decontaminate.py`)."""

    against: list[str] = Field(min_length=1)  # globs of evaluation files (JSON lines, Parquet or text), per recipe
    field: str = "text"  # the text of a JSON line or a Parquet row
    ngram: int = Field(13, ge=3, le=50)  # words per n-gram (GPT-3: 13)


class Quality(Strict):
    """A learned quality score and the filter on it (`refinery/clean/quality.py`): trained in the run on
    `reference` (and texts people labelled) against the ore, or read from `model`; `min_score` or `keep_top`
    removes the rest as `quality`."""

    reference: list[str] | None = None  # globs of writing to learn from (JSON lines, Parquet or text), per recipe
    labelled: list[str] | None = None  # globs of texts people judged (JSON lines or Parquet): `keep` or `drop`
    field: str = "text"  # the text of a reference or labelled JSON line or Parquet row
    label_field: str = "label"  # a labelled row's judgement: keep (learned as writing to learn from) or drop
    model: str | None = None  # a model a version stored (`quality_model.parquet`), per recipe: used as it is
    sample: int = Field(20_000, ge=10)  # ore documents to train on; as many again, held out, set keep_top's cut
    min_score: float | None = Field(None, ge=0, le=1)
    keep_top: float | None = Field(None, gt=0, le=1)  # the share of the documents reaching the score to keep
    seed: int = 0

    @model_validator(mode="after")
    def _one_each(self) -> "Quality":
        if (self.reference is None and self.labelled is None) == (self.model is None):
            raise ValueError("quality: name texts to train on (reference, labelled) or a model, one of the two")
        if self.min_score is not None and self.keep_top is not None:
            raise ValueError("quality: min_score or keep_top, not both")
        return self


class Clean(Strict):
    structure: Structure = Structure()
    normalize: Normalize = Normalize()
    lines: Lines = Lines()
    pii: list[PiiKind] = ["email", "phone", "ip"]
    pii_tokens: dict[PiiKind, str] = {}
    filters: Filters = Filters()
