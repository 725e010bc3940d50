"""Cleaning stage: Refinery's batched Polars implementation against a straightforward per-record Python
implementation of the same steps (repair, normalization, PII redaction, language ID, signals, filters), on the
same ~1 KB documents, measured in the same run.

    python benchmarks/clean_bench.py [--docs 20000]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path

import polars as pl

from refinery.clean.langid import MAX_CHARS, detect, model_path
from refinery.clean.pii import CARD_CANDIDATE, PATTERNS, TOKENS, luhn_valid
from refinery.clean.stage import clean
from refinery.clean.steps import clean_batch
from refinery.clean.text import CONTROL
from refinery.mojibake import MOJIBAKE_HINT, fix_mojibake
from refinery.recipe import Clean, Filters
from refinery.records import INGESTED_SCHEMA
from refinery.runtime.engine import Engine
from refinery.runtime.tuning import Tuning

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the tests' generators (refinery_tests.synth)
from refinery_tests.synth import document, mojibake, with_pii

CONFIG = Clean(pii=["email", "phone", "ip", "card", "national_id"], filters=Filters(min_words=50, languages=["en"]))


def corpus(n: int, seed: int = 3) -> pl.DataFrame:
    """English-like forum posts of about 1 KB; some with PII, mojibake, repetition or too few words."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        text = document(rng, rng.randint(9, 13))
        roll = rng.random()
        if roll < 0.1:
            text = with_pii(rng, text)
        elif roll < 0.15:
            text = mojibake(text)
        elif roll < 0.2:
            text = "Great post!\nGreat post!\nGreat post!\n" + text
        elif roll < 0.25:
            text = "thanks, that helped"
        texts.append(text)
    return pl.DataFrame({"doc_id": [str(i) for i in range(n)], "text": texts})


# ---- the per-record baseline: the same steps, one document at a time in plain Python -------------------------
PY_PII = {kind: re.compile(PATTERNS[kind]) for kind in PATTERNS}
PY_STOP = re.compile(r"(?i)\b(?:the|be|to|of|and|that|have|with)\b")
PY_BULLET = re.compile(r"^\s*(?:[-*•‣●▪◦]|\d+[.)])\s")
PY_PUNCT_END = re.compile(r"[.!?\"'”’)]\s*$")
PY_ELLIPSIS_END = re.compile(r"(?:\.\.\.|…)\s*$")
PY_ALPHA_WORD = re.compile(r"\S*[^\W\d_]\S*")
PY_LETTER_WORD = re.compile(r"[^\W\d_]\S*")
PY_SENTENCE_END = re.compile(r"[^\W\d_][.!?…][\"'”’)\]]*(?:\s|$)")
PY_CODE = re.compile(r"[{};]$|^(?:[{}]|</?[A-Za-z]|//|/\*|\*/|>>>|\$ |#[ !])")


def written(line: str) -> bool:
    """Not code, not a row of a data table (refinery/clean/bound.py)."""
    line = line.strip()
    return not PY_CODE.search(line) and not (line.startswith("|") and not PY_SENTENCE_END.search(line))


def prose(line: str) -> bool:
    return written(line) and len(PY_LETTER_WORD.findall(line)) >= 5


def without_repeats(text: str) -> str:
    """The `repeated_lines` rule: a line of 8+ words the document already holds goes."""
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        if len(line.split()) >= 8 and line in seen:
            continue
        seen.add(line)
        kept.append(line)
    return "\n".join(kept)


@cache
def fasttext_model():
    """fastText's own predictor on the same model file: one C++ call per document."""
    import fasttext

    return fasttext.load_model(str(model_path()))


def clean_record(text: str, config: Clean) -> tuple[str, str | None]:
    if re.search(MOJIBAKE_HINT, text):
        text = fix_mojibake(text)
    text = unicodedata.normalize("NFC", text)
    text = re.sub(CONTROL, "", text)
    text = re.sub(r"\r\n?", "\n", text)
    text = re.sub(r"[ \t\u00A0\u2000-\u200A\u3000]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = without_repeats(re.sub(r"\n{3,}", "\n\n", text).strip())
    for kind in config.pii:
        if kind == "card":
            text = re.sub(CARD_CANDIDATE, lambda m: TOKENS["card"] if luhn_valid(m.group()) else m.group(), text)
        else:
            text = PY_PII[kind].sub(r"\g<1>" + TOKENS[kind] + r"\g<2>", text)
    label = fasttext_model().f.predict(re.sub(r"\s+", " ", text[:MAX_CHARS]) + "\n", 1, 0.0, "strict")
    lang, score = label[0][1].removeprefix("__label__"), float(label[0][0])
    words = text.split()
    n = len(words) or 1
    lines = [line for line in text.split("\n") if line.strip()]
    prose_lines = [line for line in lines if prose(line)]
    written_words = " ".join(line for line in lines if written(line)).split()
    tokens = re.findall(r"\w+", text.lower())
    prose_tokens = re.findall(r"\w+", "\n".join(prose_lines).lower())
    bigrams = [" ".join(tokens[i : i + 2]) for i in range(len(tokens) - 1)]
    fivegrams = Counter(" ".join(prose_tokens[i : i + 5]) for i in range(len(prose_tokens) - 4))
    seen: set[str] = set()
    dup_lines = 0
    for line in prose_lines:
        dup_lines += line in seen
        seen.add(line)
    sentence_ends = sum(len(PY_SENTENCE_END.findall(line)) for line in prose_lines) / (len(written_words) or 1)
    f = config.filters

    def above(name: str, value: float) -> bool:  # the recipe's bound, as the stage reads it; off when null
        bound = getattr(f, name)
        return bound is not None and (value < bound if name.startswith("min_") else value > bound)

    lined = max(len(lines), 1)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    dup_paragraphs = len(paragraphs) - len(set(paragraphs))
    checks = [  # the stage's order (refinery/clean/filters.py `rules`), with the stage's defaults
        ("empty_text", not text.strip()),
        ("min_words", above("min_words", len(words))),
        ("max_words", above("max_words", len(words))),
        ("languages", f.languages is not None and lang not in f.languages),
        ("min_language_score", above("min_language_score", score)),
        ("lorem_ipsum", f.lorem_ipsum and "lorem ipsum" in text.lower()),
        ("curly_bracket", f.curly_bracket and ("{" in text or "}" in text)),
        (
            "max_javascript_lines",
            above("max_javascript_lines", sum("javascript" in ln.lower() for ln in lines) / lined),
        ),
        ("min_mean_word_length", above("min_mean_word_length", sum(len(w) for w in words) / n)),
        ("max_mean_word_length", above("max_mean_word_length", sum(len(w) for w in words) / n)),
        (
            "max_symbol_word_ratio",
            above("max_symbol_word_ratio", (text.count("#") + text.count("...") + text.count("…")) / n),
        ),
        (
            "max_bullet_lines",
            above(
                "max_bullet_lines",
                sum(bool(PY_BULLET.match(ln) and not PY_PUNCT_END.search(ln)) for ln in lines) / lined,
            ),
        ),
        (
            "max_ellipsis_lines",
            above("max_ellipsis_lines", sum(bool(PY_ELLIPSIS_END.search(ln)) for ln in lines) / lined),
        ),
        (
            "min_punctuated_lines",
            above("min_punctuated_lines", sum(bool(PY_PUNCT_END.search(ln)) for ln in lines) / lined),
        ),
        ("min_sentence_ends", above("min_sentence_ends", sentence_ends)),
        (
            "min_alpha_words",
            above(
                "min_alpha_words",
                sum(bool(PY_ALPHA_WORD.fullmatch(w)) for w in written_words) / (len(written_words) or 1),
            ),
        ),
        ("min_stop_words", lang == "en" and above("min_stop_words", len(PY_STOP.findall(text)))),
        ("max_duplicate_lines", above("max_duplicate_lines", dup_lines / max(len(prose_lines), 1))),
        ("max_duplicate_paragraphs", above("max_duplicate_paragraphs", dup_paragraphs / max(len(paragraphs), 1))),
        ("max_top_2gram", bool(bigrams) and above("max_top_2gram", max(Counter(bigrams).values()) / len(bigrams))),
        (
            "max_duplicate_5grams",
            bool(fivegrams)
            and above("max_duplicate_5grams", sum(c - 1 for c in fivegrams.values()) / sum(fivegrams.values())),
        ),
        (
            "max_javascript_lines",
            above("max_javascript_lines", sum("javascript" in ln.lower() for ln in lines) / lined),
        ),
    ]
    return text, next((name for name, failed in checks if failed), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    args = parser.parse_args()
    frame = corpus(args.docs)
    clean_batch(frame.head(100), CONFIG)  # warm-up: load the language model
    started = time.perf_counter()
    baseline = [clean_record(t, CONFIG) for t in frame.get_column("text")]
    baseline_s = time.perf_counter() - started
    started = time.perf_counter()
    ours = pl.concat([clean_batch(frame.slice(i, 20_000), CONFIG) for i in range(0, frame.height, 20_000)])
    ours_s = time.perf_counter() - started
    agree = sum(r == o for (_, r), o in zip(baseline, ours.get_column("reason"), strict=True)) / frame.height
    same_text = sum(t == o for (t, _), o in zip(baseline, ours.get_column("text"), strict=True)) / frame.height
    print(f"documents: {frame.height}, about {frame.get_column('text').str.len_bytes().mean():.0f} bytes each")
    print(f"per-record Python: {frame.height / baseline_s:9.0f} docs/s")
    print(f"refinery (Polars):  {frame.height / ours_s:9.0f} docs/s   speed-up {baseline_s / ours_s:.1f}x")
    print(f"same decision on {agree:.1%} of documents, same cleaned text on {same_text:.1%}")
    language_id(ours.get_column("text"))
    print("rejected:", dict(Counter(r for r in ours.get_column("reason") if r)))
    stage_on_cores(frame)


def language_id(text: pl.Series) -> None:
    """lid.176 batched (Refinery) against fastText's predict one document at a time, same labels."""
    started = time.perf_counter()
    ours = detect(text)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    lines = text.str.slice(0, MAX_CHARS).str.replace_all(r"[\s\x00]+", " ") + "\n"
    theirs = [fasttext_model().f.predict(line, 1, 0.0, "strict")[0][1].removeprefix("__label__") for line in lines]
    theirs_s = time.perf_counter() - started
    same = sum(a == b for a, b in zip(ours.get_column("lang"), theirs, strict=True)) / len(theirs)
    print(
        f"language ID: fastText per document {len(text) / theirs_s:.0f} docs/s, batched {len(text) / ours_s:.0f} "
        f"docs/s, speed-up {theirs_s / ours_s:.1f}x (same label on {same:.2%})"
    )


def stage_on_cores(frame: pl.DataFrame) -> None:
    """The whole stage (`clean()`, Parquet in and out) on one process, then on every core; same output bytes."""
    workers = Tuning().workers
    rows = frame.with_columns(
        source=pl.lit("bench"),
        source_id=pl.col("doc_id"),
        source_uri=pl.lit("bench.jsonl"),
        line=pl.lit(1),
        title=pl.lit(None),
        url=pl.lit(None),
    ).select(pl.col(c).cast(t) for c, t in INGESTED_SCHEMA.items())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.parquet"
        rows.write_parquet(path)
        seconds = {}
        for n in (1, workers):
            started = time.perf_counter()
            result = clean(path, Path(tmp) / f"w{n}", CONFIG, Engine(n))
            seconds[n] = time.perf_counter() - started
        same = result.cleaned.read_bytes() == (Path(tmp) / "w1" / "cleaned.parquet").read_bytes()
    print(
        f"clean() stage, 1 process: {frame.height / seconds[1]:.0f} docs/s; {workers} processes: "
        f"{frame.height / seconds[workers]:.0f} docs/s, speed-up {seconds[1] / seconds[workers]:.2f}x "
        f"(same output bytes: {same})"
    )


if __name__ == "__main__":
    main()
