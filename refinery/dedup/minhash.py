"""MinHash signatures for a whole batch at once, bit-identical to datasketch's `MinHash` (scheme "affine32").

Why not datasketch's own loop: it hashes every shingle with SHA-1 in Python and permutes one document at a time,
about a thousand documents per second per core. Here compiled kernels (Numba, no GIL) walk the batch's UTF-8
buffer directly, normalizing as they go (see `shingle_hashes`):

- a word's hash is the polynomial sum(b_i * P**i) mod 2**64 over its bytes;
- a shingle (up to `ngram` consecutive words) hashes to fmix64(sum(word_k * Q**k) mod 2**64) >> 32;
- each of `num_perm` permutations is datasketch's a*h + b mod 2**32 over the fmix32 pre-mixed hash, and each
  document keeps the minimum.

`shingle_hash` is the same hash for one shingle, as a plain function: pass it as `hashfunc` to datasketch and the
signatures interoperate (`MinHash`, `LeanMinHash`, `MinHashLSH`).
"""

from __future__ import annotations

import unicodedata
from functools import cache

import numba
import numpy as np
import polars as pl

from refinery.buffers import utf8_buffer

P = 0x100000001B3  # FNV-64 prime: weights a byte by its position in the word
Q = 0x9E3779B97F4A7C15  # golden-ratio constant: weights a word by its position in the shingle
MASK64 = (1 << 64) - 1
MAX_HASH32 = np.uint32(0xFFFFFFFF)
FOLDED = r"[\p{P}\p{S}\p{Cc}\s]"  # what normalization turns into spaces: punctuation, symbols, controls, spaces
TABLE_LIMIT = 0x20000  # code points the kernels fold themselves: the BMP and the next plane (emoji)
WORD, SEPARATOR, UNSAFE = 0, 1, 2


def _fold_unicode(text: pl.Series) -> pl.Series:
    """NFKC, lower case, and every punctuation, symbol, control or whitespace character to a space."""
    return text.str.normalize("NFKC").str.to_lowercase().str.replace_all(FOLDED, " ")


def normalize_for_dedup(text: pl.Series) -> pl.Series:
    """What 'the same text' means: NFKC, lower case, punctuation, symbols and control characters to spaces,
    whitespace folded, as words joined by single spaces. The kernels apply the same rule without building this
    text (see `_fold_tables`)."""
    return _fold_unicode(text).str.replace_all(" {2,}", " ").str.strip_chars(" ")


@cache
def _fold_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per code point below `TABLE_LIMIT`: its kind (WORD, SEPARATOR or UNSAFE) and, for a word character, its
    lower case. Both are asked of Polars' own NFKC, lower case and `FOLDED` regex, character by character, so the
    kernels fold exactly as `normalize_for_dedup` does.

    A character is UNSAFE when folding it alone could differ from folding it in a text: NFKC changes it, it
    combines or composes with its neighbours, or its lower case is not one character or depends on context (final
    sigma). A document with one goes through Polars first."""
    points = [c for c in range(TABLE_LIMIT) if not 0xD800 <= c < 0xE000]  # surrogates are not text
    chars = pl.Series([chr(c) for c in points])
    lowered = chars.str.to_lowercase()
    spaces_only = _fold_unicode(chars).str.strip_chars(" ") == ""
    settled = (
        (chars.str.normalize("NFKC") == chars)
        & (lowered.str.len_chars() == 1)
        & (("a" + chars).str.to_lowercase() == "a" + lowered)
        & ((chars + "a").str.to_lowercase() == lowered + "a")
        & (lowered.str.normalize("NFKC") == lowered)
    )
    moving = np.array([unicodedata.combining(chr(c)) != 0 for c in points]) | np.isin(points, _composing_seconds())
    kind = np.full(TABLE_LIMIT, UNSAFE, dtype=np.uint8)
    kind[points] = np.where(
        moving, UNSAFE, np.where(spaces_only.to_numpy(), SEPARATOR, np.where(settled.to_numpy(), WORD, UNSAFE))
    )
    lower = np.arange(TABLE_LIMIT, dtype=np.int32)
    word = kind[points] == WORD
    lower[np.array(points)[word]] = [ord(c) for c in lowered.filter(pl.Series(word)).to_list()]
    return kind, lower


@cache
def _ascii_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per byte: whether it separates words, and its lower case. ASCII separators are asked of the same regex
    that `_fold_unicode` uses, so the two cannot disagree; bytes of multi-byte characters are word bytes."""
    ascii_chars = pl.Series([chr(c) for c in range(128)])
    separator = np.zeros(256, dtype=np.bool_)
    separator[:128] = ascii_chars.str.contains(FOLDED).to_numpy()
    lower = np.arange(256, dtype=np.uint8)
    lower[ord("A") : ord("Z") + 1] += ord("a") - ord("A")
    return separator, lower


def _composing_seconds() -> list[int]:
    """Characters that canonical composition may merge into the character before them."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul vowels and trailing consonants
    for c in range(TABLE_LIMIT):
        parts = unicodedata.decomposition(chr(c)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            seconds.add(int(parts[1], 16))
    return sorted(seconds)


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def shingle_hash(shingle: bytes) -> int:
    """32-bit hash of one shingle (words joined by single spaces): the scalar twin of `shingle_hashes`."""
    h = 0
    for k, word in enumerate(shingle.split(b" ")):
        w = 0
        for i, byte in enumerate(word):
            w = (w + byte * pow(P, i, 1 << 64)) & MASK64
        h = (h + w * pow(Q, k, 1 << 64)) & MASK64
    return _fmix64(h) >> 32


def shingles(normalized: str, ngram: int) -> list[bytes]:
    """The shingles of one normalized text: every run of `ngram` words, or the whole text when shorter."""
    words = normalized.encode().split()
    if not words:
        return []
    if len(words) < ngram:
        return [b" ".join(words)]
    return [b" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]


@numba.njit(inline="always")
def _fmix64_kernel(h):  # pragma: no cover - compiled
    s33 = np.uint64(33)
    h ^= h >> s33
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> s33
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> s33)


@numba.njit(inline="always")
def _code_point(doc, j):  # pragma: no cover - compiled
    """(code point, byte width) of the UTF-8 character starting at doc[j] (a lead byte of 0x80 or more)."""
    c = np.int64(doc[j])
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (np.int64(doc[j + 1]) & 0x3F), 2
    if c < 0xF0:
        return ((c & 0x0F) << 12) | ((np.int64(doc[j + 1]) & 0x3F) << 6) | (np.int64(doc[j + 2]) & 0x3F), 3
    return (
        ((c & 0x07) << 18)
        | ((np.int64(doc[j + 1]) & 0x3F) << 12)
        | ((np.int64(doc[j + 2]) & 0x3F) << 6)
        | (np.int64(doc[j + 3]) & 0x3F)
    ), 4


@numba.njit(nogil=True, cache=True)
def _has_unsafe(data, offsets, kind):  # pragma: no cover - compiled
    """Whether each document has a character the kernels cannot fold alone (see `_fold_tables`)."""
    out = np.zeros(len(offsets) - 1, dtype=np.bool_)
    for d in range(len(offsets) - 1):
        j = offsets[d]
        while j < offsets[d + 1]:
            if data[j] < 0x80:
                j += 1
                continue
            cp, width = _code_point(data, j)
            if cp >= len(kind) or kind[cp] == UNSAFE:
                out[d] = True
                break
            j += width
    return out


@numba.njit(nogil=True, cache=True)
def _transcode(data, offsets, kind, lower):  # pragma: no cover - compiled
    """The batch with every character folded as `normalize_for_dedup` folds it, but for spacing: ASCII lower-cased,
    separators turned to spaces, other word characters to the UTF-8 bytes of their lower case. UNSAFE characters
    are only met in text Polars has already folded, and stay as they are."""
    out = np.empty(len(data) * 3 // 2 + 4, dtype=np.uint8)  # a lower case may take 3 bytes where there were 2
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    k = 0
    for d in range(len(offsets) - 1):
        out_offsets[d] = k
        j = offsets[d]
        while j < offsets[d + 1]:
            c = data[j]
            if c < 0x80:
                out[k] = 0x20 if kind[c] == SEPARATOR else lower[c]
                k += 1
                j += 1
                continue
            cp, width = _code_point(data, j)
            kd = kind[cp] if cp < len(kind) else UNSAFE
            if kd == SEPARATOR:
                out[k] = 0x20
                k += 1
            elif kd == WORD:
                k = _put_utf8(out, k, lower[cp])
            else:
                for b in range(width):
                    out[k + b] = data[j + b]
                k += width
            j += width
    out_offsets[-1] = k
    return out[:k], out_offsets


@numba.njit(inline="always")
def _put_utf8(out, k, cp):  # pragma: no cover - compiled
    """Write code point `cp` as UTF-8 at out[k]; return the position after it."""
    if cp < 0x80:
        out[k] = cp
        return k + 1
    if cp < 0x800:
        out[k], out[k + 1] = 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)
        return k + 2
    if cp < 0x10000:
        out[k], out[k + 1], out[k + 2] = 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
        return k + 3
    out[k], out[k + 1] = 0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F)
    out[k + 2], out[k + 3] = 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
    return k + 4


@numba.njit(nogil=True, cache=True)
def _word_hashes(doc, separator, lower, powers, words):  # pragma: no cover - compiled
    """Hash every word of one document into `words`; return how many. Branch-free on purpose: a branch per
    byte mispredicts at every word boundary, which costs twice the hashing itself."""
    n, pos, h = 0, 0, np.uint64(0)
    for j in range(len(doc)):
        c = doc[j]
        s = np.int64(separator[c])
        inside = s - 1  # all ones within a word, zero on a separator
        words[n] = h  # the word so far; kept when this byte ends it
        n += s & np.int64(pos != 0)
        h = (h + np.uint64(lower[c]) * powers[pos]) & np.uint64(inside)
        pos = (pos + 1) & inside
    words[n] = h
    return n + np.int64(pos != 0)


@numba.njit(nogil=True, cache=True)
def _shingle_kernel(data, offsets, ngram, separator, lower):  # pragma: no cover - compiled
    """(document, 32-bit shingle hash) of every shingle, and a 64-bit hash of each document's word sequence.

    Words are runs of non-separator bytes, lower-cased: on ASCII text that is `normalize_for_dedup`'s rule."""
    n_docs = len(offsets) - 1
    capacity, run, longest_word, longest_doc = n_docs, 0, 0, 0
    for j in range(len(data)):  # a document has at most one shingle per word, and one word per separator + 1
        s = np.int64(separator[data[j]])
        capacity += s
        run = (run + 1) & (s - 1)
        longest_word = max(longest_word, run)
    for d in range(n_docs):
        longest_doc = max(longest_doc, offsets[d + 1] - offsets[d])
    powers = np.empty(longest_word + 1, dtype=np.uint64)  # P**i for every byte position in a word
    powers[0] = np.uint64(1)
    for i in range(1, len(powers)):
        powers[i] = powers[i - 1] * np.uint64(P)
    qpow = np.empty(ngram, dtype=np.uint64)
    qpow[0] = np.uint64(1)
    for k in range(1, ngram):
        qpow[k] = qpow[k - 1] * np.uint64(Q)
    out_doc, out_hash = np.empty(capacity, dtype=np.int32), np.empty(capacity, dtype=np.uint32)
    text_hash = np.empty(n_docs, dtype=np.uint64)
    words = np.empty(longest_doc // 2 + 2, dtype=np.uint64)
    n = 0
    for d in range(n_docs):
        nw = _word_hashes(data[offsets[d] : offsets[d + 1]], separator, lower, powers, words)
        th = np.uint64(nw)
        for i in range(nw):
            th = _fmix64_kernel(th ^ words[i])
        text_hash[d] = th
        count = nw - ngram + 1 if nw >= ngram else (1 if nw > 0 else 0)
        for i in range(count):
            acc = np.uint64(0)
            for k in range(min(ngram, nw - i)):
                acc += words[i + k] * qpow[k]
            out_doc[n] = d
            out_hash[n] = np.uint32(_fmix64_kernel(acc) >> np.uint64(32))
            n += 1
    return out_doc[:n], out_hash[:n], text_hash


@numba.njit(nogil=True, cache=True)
def _minhash_kernel(doc, hashes, a, b, out):  # pragma: no cover - compiled
    """out[d, k] = min over d's shingles of a[k] * fmix32(h) + b[k] mod 2**32 (datasketch's affine32).
    All in uint32, whose wrap-around is the modulo: the permutation loop vectorizes."""
    for n in range(len(hashes)):
        h = np.uint32(hashes[n])
        h ^= h >> np.uint32(16)
        h = np.uint32(h * np.uint32(0x85EBCA6B))
        h ^= h >> np.uint32(13)
        h = np.uint32(h * np.uint32(0xC2B2AE35))
        h ^= h >> np.uint32(16)
        row = out[doc[n]]
        for k in range(len(a)):
            row[k] = min(row[k], np.uint32(h * a[k] + b[k]))


def shingle_hashes(text: pl.Series, ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(document index, 32-bit shingle hash) for every shingle of a batch of raw texts, normalized as
    `normalize_for_dedup` says, and a 64-bit hash of each normalized text (equal texts, equal hashes).

    ASCII is folded in the hashing loop itself. A batch with other characters is first transcoded to its folded
    form; its documents with an UNSAFE character (rare in most text) are folded by Polars before that."""
    text = text.fill_null("")
    data, offsets = utf8_buffer(text)
    if (text.str.len_bytes() != text.str.len_chars()).any():
        kind, lower = _fold_tables()
        unsafe = _has_unsafe(data, offsets, kind)
        if unsafe.any():
            rows = pl.Series(np.flatnonzero(unsafe))
            data, offsets = utf8_buffer(text.scatter(rows, _fold_unicode(text.gather(rows))))
        data, offsets = _transcode(data, offsets, kind, lower)
    return _shingle_kernel(data, offsets, ngram, *_ascii_tables())


PROBE = b"the quick brown fox jumps over the lazy dog and keeps on running"


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own (a, b) for this seed, so that signatures match its `MinHash(num_perm, seed)`; checked once
    (`check_permutations`)."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    a, b = a.astype(np.uint32), b.astype(np.uint32)
    check_permutations(a, b, seed)
    return a, b


def check_permutations(a: np.ndarray, b: np.ndarray, seed: int) -> None:
    """Raise unless the kernels with (a, b) give the signature datasketch computes its own way for a probe text:
    a release that permutes differently (1.6 cut the multipliers to 32 bits, half of them even) would otherwise
    make signatures silently stop matching."""
    import datasketch

    words = PROBE.split()
    grams = [b" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    ours = np.full((1, len(a)), MAX_HASH32, dtype=np.uint32)
    hashes = np.array([shingle_hash(g) for g in grams], dtype=np.uint32)
    _minhash_kernel(np.zeros(len(grams), dtype=np.int64), hashes, a, b, ours)
    theirs = datasketch.MinHash(num_perm=len(a), seed=seed, hashfunc=shingle_hash, scheme="affine32")
    theirs.update_batch(grams)
    if not np.array_equal(ours[0], np.asarray(theirs.hashvalues, dtype=np.uint32)):
        raise RuntimeError(
            f"datasketch {datasketch.__version__} computes MinHash signatures another way than refinery's kernels "
            "(scheme affine32): install a datasketch release pyproject.toml allows"
        )


def minhash(doc: np.ndarray, hashes: np.ndarray, n_docs: int, num_perm: int, seed: int) -> np.ndarray:
    """(n_docs x num_perm) uint32 MinHash signatures from `shingle_hashes`' (document, hash) pairs; a document
    with no shingles keeps the empty signature."""
    out = np.full((n_docs, num_perm), MAX_HASH32, dtype=np.uint32)
    _minhash_kernel(doc, hashes, *permutations(num_perm, seed), out)
    return out


def signatures(text: pl.Series, num_perm: int, seed: int, ngram: int) -> np.ndarray:
    """(documents x num_perm) uint32 MinHash signatures of raw texts."""
    doc, hashes, _ = shingle_hashes(text, ngram)
    return minhash(doc, hashes, len(text), num_perm, seed)
