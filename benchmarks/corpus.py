"""A deterministic, labelled corpus for the benchmarks: ~1 KB documents over a Zipfian vocabulary, and seeded
near-duplicate variants (token edits, header/footer boilerplate, truncation or extension, whitespace and case
noise) whose `cluster` label says which original they came from. Typography is that of real posts, so about half
of the documents have non-ASCII characters (accented words, curly quotes, dashes, ellipses, emoji)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import polars as pl

from refinery.records import INGESTED_SCHEMA

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "shi",
    "pre",
    "dan",
    "tor",
    "el",
    "is",
    "an",
    "qu",
    "ber",
    "gen",
    "sol",
    "mar",
    "tin",
    "cor",
    "ul",
    "ri",
    "fa",
    "gle",
    "po",
    "sta",
    "ven",
    "dor",
    "li",
]
KEEP_ORIGINALS = 100_000  # variants copy one of the recent originals: bounded memory at any corpus size
HEADERS = ["Posted by {user} on {day} March 2026", "Re: question about the {word} setup", "[quote={user}]"]
FOOTERS = ["-- {user}, sent from my phone", "Edited {day} times, last by {user}", "Thanks, {user}"]


ACCENTED = {"e": "é", "u": "ü", "o": "ö", "a": "à", "n": "ñ", "c": "ç"}
ENDINGS = [".", ".", ".", ".", "?", "!", "…", ":", ";"]


def vocabulary(size: int = 20_000, seed: int = 1, accented: float = 0.003) -> np.ndarray:
    """Made-up words; a few (`accented`) spelled with a non-ASCII letter, as names and loanwords are."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3))))
        if rng.random() < accented:
            at = next((i for i, ch in enumerate(word) if ch in ACCENTED), 0)
            word = word[:at] + ACCENTED.get(word[at], word[at]) + word[at + 1 :]
        words.add(word)
    ordered = sorted(words)
    rng.shuffle(ordered)  # rank (and so frequency) independent of spelling
    return np.array(ordered, dtype=object)


def _render(words: list[str], rng: random.Random) -> str:
    """Sentences with the typography of real posts: curly quotes, dashes, ellipses, no-break spaces, emoji."""
    out, i = [], 0
    while i < len(words):
        n = rng.randint(6, 18)
        sentence = " ".join(words[i : i + n])
        sentence = sentence[:1].upper() + sentence[1:] + rng.choice(ENDINGS)
        roll = rng.random()
        if roll < 0.08:
            sentence = f"“{sentence}”"
        elif roll < 0.12:
            sentence = sentence.replace(" ", "’s ", 1)
        elif roll < 0.15:
            sentence = sentence + " —"
        elif roll < 0.16:
            sentence = sentence + "\u00a0"
        out.append(sentence)
        i += n
    text = " ".join(out)
    roll = rng.random()
    if roll < 0.05:
        text += " " + rng.choice(["🙂", "👍", "🎉", ":)"])
    elif roll < 0.06:
        text += " Brand™ and ﬁnal notes"  # characters NFKC rewrites: these documents take the slow path
    return text


def variant(words: list[str], rng: random.Random, vocab: np.ndarray) -> list[str]:
    """A near-duplicate of a document, by one of the edits real duplicates show."""
    words = list(words)
    kind = rng.choice(["edit", "boilerplate", "truncate", "extend", "noise"])
    if kind == "edit":  # a handful of token edits
        for _ in range(rng.randint(1, 3)):
            words[rng.randrange(len(words))] = str(vocab[rng.randrange(len(vocab))])
    elif kind == "boilerplate":
        fill = {"user": f"user{rng.randint(1, 999)}", "day": rng.randint(1, 28), "word": words[0]}
        words = rng.choice(HEADERS).format(**fill).split() + words + rng.choice(FOOTERS).format(**fill).split()
    elif kind == "truncate":
        words = words[: int(len(words) * rng.uniform(0.9, 0.97))]
    elif kind == "extend":
        words = words + [str(w) for w in vocab[np.random.default_rng(rng.randrange(1 << 30)).zipf(1.3, 8) % len(vocab)]]
    else:  # case and whitespace noise
        words = [w.upper() if rng.random() < 0.1 else w for w in words]
        words = [w + ("\n" if rng.random() < 0.05 else "") for w in words]
    return words


def labelled_batches(n: int, seed: int = 7, dup_share: float = 0.3, batch: int = 20_000) -> Iterator[pl.DataFrame]:
    """Batches of (ingested columns + `cluster`): originals, and variants of earlier originals (`dup_share`)."""
    vocab = vocabulary()
    weights = 1 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    originals: list[np.ndarray] = []  # word ids of the most recent originals, the ones variants copy
    n_originals = made = 0
    while made < n:
        size = min(batch, n - made)
        lengths = nrng.integers(100, 170, size)  # about 1 KB of text
        ids = nrng.choice(len(vocab), int(lengths.sum()), p=weights)
        texts, clusters, offset = [], [], 0
        for length in lengths:
            if originals and rng.random() < dup_share:
                pick = rng.randrange(len(originals))
                cluster = n_originals - len(originals) + pick
                words = variant(list(vocab[originals[pick]]), rng, vocab)
            else:
                original = ids[offset : offset + length].astype(np.int32)
                words, cluster = list(vocab[original]), n_originals
                originals.append(original)
                n_originals += 1
                if len(originals) > KEEP_ORIGINALS:
                    originals = originals[KEEP_ORIGINALS // 2 :]
            offset += length
            texts.append(_render(words, rng))
            clusters.append(cluster)
        start = made
        made += size
        yield pl.DataFrame(
            {
                "doc_id": [f"b{i:08d}" for i in range(start, made)],
                "text": texts,
                "source": "bench",
                "source_id": [str(i) for i in range(start, made)],
                "source_uri": "bench",
                "line": range(start, made),
                "title": None,
                "url": None,
                "cluster": clusters,
            },
            schema={**INGESTED_SCHEMA, "cluster": pl.Int64},
        )
