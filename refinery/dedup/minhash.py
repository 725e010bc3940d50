"""MinHash signatures for a whole batch at once, bit-identical to datasketch's `MinHash` (scheme "affine32").

Why not datasketch's own loop: it hashes every shingle with SHA-1 in Python and permutes one document at a time,
about a thousand documents per second per core. Here the batch's UTF-8 buffer is hashed with NumPy:

- a word's hash is the polynomial sum(b_i * P**i) mod 2**64 over its bytes, read off a prefix sum of the buffer;
- a shingle (up to `ngram` consecutive words) hashes to fmix64(sum(word_k * Q**k)) >> 32;
- each of `num_perm` permutations is datasketch's a*h + b mod 2**32 over the fmix32 pre-mixed hash, and the
  minimum per document is one `np.minimum.reduceat` over the batch.

`shingle_hash` is the same hash for one shingle, as a plain function: pass it as `hashfunc` to datasketch and the
signatures interoperate (`MinHash`, `LeanMinHash`, `MinHashLSH`).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl
import pyarrow as pa

P = 0x100000001B3  # FNV-64 prime: odd, so invertible modulo 2**64
Q = 0x9E3779B97F4A7C15  # golden-ratio constant: weights a word by its position in the shingle
MASK64 = (1 << 64) - 1
MAX_HASH32 = np.uint32(0xFFFFFFFF)
CHUNK_ELEMENTS = 1 << 22  # shingles x permutations per NumPy step: 16 MiB of uint32


def normalize_for_dedup(text: pl.Expr) -> pl.Expr:
    """NFKC, lower case, punctuation and symbols to spaces, whitespace folded: what 'the same text' means."""
    return (
        text.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(r"[\p{P}\p{S}]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


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


@cache
def _powers(base: int, length: int) -> np.ndarray:
    out = np.empty(length, dtype=np.uint64)
    out[0] = 1
    if length > 1:
        out[1:] = np.cumprod(np.full(length - 1, base, dtype=np.uint64))
    return out


def _capacity(n: int) -> int:
    return 1 << max(16, int(n - 1).bit_length())


def _fmix64_array(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _fmix32_array(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def shingle_hashes(normalized: pl.Series, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(document index, 32-bit shingle hash) for every shingle of a batch of normalized texts."""
    arr = normalized.to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n_docs = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n_docs + 1]
    data = (
        np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]] if n_docs else np.empty(0, np.uint8)
    )
    offsets = offsets - offsets[0]
    size = len(data)
    if size == 0:
        return np.empty(0, np.int64), np.empty(0, np.uint32)

    letter = data != 0x20
    doc_starts, doc_ends = offsets[:-1], offsets[1:]
    nonempty = doc_ends > doc_starts
    after_break = np.ones(size, dtype=bool)
    after_break[1:] = ~letter[:-1]
    after_break[doc_starts[nonempty]] = True
    before_break = np.ones(size, dtype=bool)
    before_break[:-1] = ~letter[1:]
    before_break[doc_ends[nonempty] - 1] = True
    starts = np.flatnonzero(letter & after_break)
    ends = np.flatnonzero(letter & before_break) + 1

    # word hash = sum(b_j * P**(j - start)) over the word, from a prefix sum of b_j * P**j
    cap = _capacity(size)
    prefix = np.cumsum(data.astype(np.uint64) * _powers(P, cap)[:size])
    below = np.where(starts > 0, prefix[np.maximum(starts - 1, 0)], np.uint64(0))
    words = (prefix[ends - 1] - below) * _powers(pow(P, -1, 1 << 64), cap)[starts]

    per_doc = np.diff(np.searchsorted(starts, offsets))
    word_doc = np.repeat(np.arange(n_docs), per_doc)
    n_words = len(words)
    first_word = np.zeros(n_words, dtype=bool)
    first_word[np.cumsum(per_doc)[per_doc > 0] - per_doc[per_doc > 0]] = True

    # shingle i = words i .. i+ngram-1 while they stay in one document
    acc = words.copy()
    whole = np.ones(n_words, dtype=bool)  # whether words i .. i+k all exist in the same document
    for k in range(1, ngram):
        whole[n_words - k :] = False
        whole[: n_words - k] &= word_doc[k:] == word_doc[: n_words - k]
        acc[: n_words - k] += np.where(whole[: n_words - k], words[k:] * np.uint64(pow(Q, k, 1 << 64)), np.uint64(0))
    keep = whole | (first_word & (per_doc[word_doc] < ngram))
    return word_doc[keep], (_fmix64_array(acc[keep]) >> np.uint64(32)).astype(np.uint32)


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own (a, b) for this seed, so that signatures match its `MinHash(num_perm, seed)`."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def signatures(normalized: pl.Series, num_perm: int, seed: int, ngram: int) -> np.ndarray:
    """(documents x num_perm) uint32 MinHash signatures; a document with no words keeps the empty value."""
    doc, hashes = shingle_hashes(normalized, ngram)
    a, b = permutations(num_perm, seed)
    out = np.full((len(normalized), num_perm), MAX_HASH32, dtype=np.uint32)
    if len(hashes) == 0:
        return out
    mixed = _fmix32_array(hashes)
    seg_start = np.flatnonzero(np.concatenate(([True], doc[1:] != doc[:-1])))
    bounds = np.append(seg_start, len(doc))
    step = max(1, CHUNK_ELEMENTS // num_perm)
    lo = 0
    while lo < len(seg_start):  # a chunk of whole documents, about `step` shingles
        hi = max(lo + 1, int(np.searchsorted(bounds, bounds[lo] + step, side="right")) - 1)
        s, e = bounds[lo], bounds[hi]
        permuted = np.multiply.outer(a, mixed[s:e])  # permutations x shingles, contiguous per permutation
        permuted += b[:, None]
        out[doc[seg_start[lo:hi]]] = np.minimum.reduceat(permuted, seg_start[lo:hi] - s, axis=1).T
        lo = hi
    return out
