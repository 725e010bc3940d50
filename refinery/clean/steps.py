"""The cleaning steps, in the order they run on a batch. Each declares its recipe section (under `clean:`), the
columns it reads and writes, and what it does to a batch of rows; `run_steps` runs them in turn and returns the
kept rows, the removed rows with the filter, signal and value that removed them, and the batch's counters. A new
step is a function and one entry in STEPS (a new filter: one entry in `registry.py`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from refinery.clean.config import Clean
from refinery.clean.decontaminate import contaminated
from refinery.clean.filters import add_signals, extra_signals, first_failure
from refinery.clean.langid import detect
from refinery.clean.lines import PER_RULE, strip_lines
from refinery.clean.pii import redact
from refinery.clean.quality import Model
from refinery.clean.structure import strip_structure
from refinery.clean.text import normalize_text
from refinery.mojibake import repaired_texts

INTERNAL = (
    "reason",
    "signal",
    "value",
    "_changed",
    "_stripped",
    "_contaminated_set",
    "_contaminated_ngram",
)  # per-batch bookkeeping, not refined columns


def internal(frame: pl.DataFrame) -> list[str]:
    """The bookkeeping columns the steps left on `frame`."""
    return [c for c in frame.columns if c in INTERNAL or c.startswith(PER_RULE)]


@dataclass(frozen=True)
class Corpus:
    """What a batch's steps know about the whole input, found by one pass over it before the shards run."""

    common_lines: pl.DataFrame | None = None  # (source, key) of the lines common across a source's documents
    reference: pl.DataFrame | None = None  # (key, set, ngram) of the evaluation sets' n-grams (decontamination)
    ngram: int = 13  # words per n-gram of `reference`
    quality: Model | None = None  # the quality classifier, trained on the reference and the ore (or named)
    quality_cut: float | None = None  # documents scoring below it are removed (min_score, or keep_top's cut)


@dataclass(frozen=True)
class Step:
    key: str  # the recipe section under `clean:` it reads
    reads: tuple[str, ...]
    writes: tuple[str, ...]  # `pii_*`: a column per kind of personal data asked for
    apply: Callable[[pl.DataFrame, Clean, Corpus], pl.DataFrame]


def _structure(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    return strip_structure(frame, config.structure)


def _normalize(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    text = repaired_texts(frame.get_column("text")) if config.normalize.fix_text else frame.get_column("text")
    return frame.with_columns(text=normalize_text(text, config.normalize))


def _lines(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    return strip_lines(frame, config.lines, corpus.common_lines)


def _pii(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    return redact(frame, list(config.pii), dict(config.pii_tokens))


def _language(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    return pl.concat([frame, detect(frame.get_column("text"))], how="horizontal")


def _filters(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    """Every signal a filter asks for, then the first filter a row fails: `reason`, `signal`, `value`."""
    return extra_signals(add_signals(frame), config.filters).with_columns(**first_failure(config.filters))


def _decontaminate(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    """Rows that passed the filters but share an n-gram with an evaluation set: `contaminated`, naming both."""
    if corpus.reference is None:
        return frame.with_columns(
            _contaminated_set=pl.lit(None, pl.String), _contaminated_ngram=pl.lit(None, pl.String)
        )
    found = pl.concat([frame, contaminated(frame.get_column("text"), corpus.reference, corpus.ngram)], how="horizontal")
    return found.with_columns(**_removed_by(pl.col("_contaminated_set").is_not_null(), "contaminated", "ngram"))


def _quality(frame: pl.DataFrame, config: Clean, corpus: Corpus) -> pl.DataFrame:
    """Every document's `quality_score`; rows still kept and scoring below the cut: `quality`, with the score."""
    if corpus.quality is None:
        return frame
    scored = frame.with_columns(corpus.quality.score(frame.get_column("text")))
    if corpus.quality_cut is None:
        return scored
    low = pl.col("quality_score") < corpus.quality_cut
    return scored.with_columns(**_removed_by(low, "quality", "quality_score", pl.col("quality_score")))


def _removed_by(hit: pl.Expr, reason: str, signal: str, value: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """`reason`, `signal` (and `value`) of the rows `hit` that no step before removed: a later step's removal."""
    first = pl.col("reason").is_null() & hit
    marks = {"reason": pl.lit(reason), "signal": pl.lit(signal), **({"value": value} if value is not None else {})}
    return {column: pl.when(first).then(mark).otherwise(column) for column, mark in marks.items()}


STEPS: tuple[Step, ...] = (
    Step("structure", ("text",), ("text", "stripped_*"), _structure),
    Step("normalize", ("text",), ("text",), _normalize),
    Step("lines", ("text", "source"), ("text", "stripped_lines", "_lines_*", "_stripped"), _lines),
    Step("pii", ("text",), ("text", "pii_*"), _pii),
    Step("language", ("text",), ("lang", "lang_score"), _language),
    Step("filters", ("text", "lang", "lang_score"), ("n_words", "<signals>", "reason", "signal", "value"), _filters),
    Step("decontaminate", ("text", "reason"), ("reason", "signal", "_contaminated_*"), _decontaminate),
    Step("quality", ("text", "reason"), ("quality_score", "reason", "signal", "value"), _quality),
)


def clean_batch(frame: pl.DataFrame, config: Clean, corpus: Corpus | None = None) -> pl.DataFrame:
    """Ingested rows in, the same rows out with cleaned text, signals, and `reason`/`value` of a failed filter."""
    original = frame.get_column("text")
    corpus = corpus or Corpus()
    for step in STEPS:
        frame = step.apply(frame, config, corpus)
    return frame.with_columns(_changed=pl.col("text") != original)


@dataclass
class Tally:
    """What the steps counted over some rows; tallies of shards add up."""

    rows_in: int = 0
    kept: int = 0
    changed: int = 0  # documents whose text the steps changed
    rejected: Counter[str] = field(default_factory=Counter)  # removed rows per filter
    pii: Counter[str] = field(default_factory=Counter)  # redactions per kind (zero counts kept: every kind asked)
    lines: Counter[str] = field(default_factory=Counter)  # lines stripped per line rule
    examples: list[dict] = field(default_factory=list)  # before and after, of the first changed documents
    line_examples: list[dict] = field(default_factory=list)  # the first stripped lines
    contaminated: Counter[str] = field(default_factory=Counter)  # documents removed per evaluation set

    def __add__(self, other: Tally) -> Tally:
        pii, lines = Counter(self.pii), Counter(self.lines)
        pii.update(other.pii)
        lines.update(other.lines)
        return Tally(
            self.rows_in + other.rows_in,
            self.kept + other.kept,
            self.changed + other.changed,
            self.rejected + other.rejected,
            pii,
            lines,
            self.examples + other.examples,
            self.line_examples + other.line_examples,
            self.contaminated + other.contaminated,
        )


@dataclass
class Batch:
    """A batch after every step: the kept rows (refined columns only), the removed ones (`reason`, `signal`,
    `value` of the filter that removed each, the language detected), and what the steps counted."""

    kept: pl.DataFrame
    removed: pl.DataFrame
    tally: Tally


def _sums(frame: pl.DataFrame, prefix: str) -> Counter[str]:
    """The totals of the count columns named `prefix<name>`, by name."""
    return Counter(
        {c.removeprefix(prefix): int(frame.get_column(c).sum()) for c in frame.columns if c.startswith(prefix)}
    )


def run_steps(frame: pl.DataFrame, config: Clean, examples: int = 3, corpus: Corpus | None = None) -> Batch:
    before = frame.get_column("text")
    frame = clean_batch(frame, config, corpus)
    changed = frame.get_column("_changed")
    shown = [
        {"doc_id": frame[i, "doc_id"], "before": before[i][:200], "after": frame[i, "text"][:200]}
        for i in changed.arg_true().head(examples)
    ]
    stripped = frame.select("doc_id", line="_stripped").explode("line").drop_nulls("line").head(examples)
    removed = frame.get_column("reason").is_not_null()
    tally = Tally(
        frame.height,
        int((~removed).sum()),
        int(changed.sum()),
        Counter(frame.get_column("reason").drop_nulls().to_list()),
        _sums(frame, "pii_"),
        _sums(frame, PER_RULE),
        shown,
        [{"doc_id": d, "line": line[:200]} for d, line in stripped.iter_rows()],
        Counter(frame.filter(pl.col("reason") == "contaminated").get_column("_contaminated_set").to_list()),
    )
    return Batch(frame.filter(~removed).drop(internal(frame)), frame.filter(removed), tally)
