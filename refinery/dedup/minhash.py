"""MinHash signatures for a whole batch at once, bit-identical to datasketch's `MinHash` (scheme "affine32").

Why not datasketch's own loop: it hashes every shingle with SHA-1 in Python and permutes one document at a time,
about a thousand documents per second per core. Here two compiled kernels (Numba, no GIL) walk the batch's UTF-8
buffer directly:

- a word's hash is the polynomial sum(b_i * P**i) mod 2**64 over its bytes;
- a shingle (up to `ngram` consecutive words) hashes to fmix64(sum(word_k * Q**k) mod 2**64) >> 32;
- each of `num_perm` permutations is datasketch's a*h + b mod 2**32 over the fmix32 pre-mixed hash, and each
  document keeps the minimum.

`shingle_hash` is the same hash for one shingle, as a plain function: pass it as `hashfunc` to datasketch and the
signatures interoperate (`MinHash`, `LeanMinHash`, `MinHashLSH`).
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np
import polars as pl
import pyarrow as pa

P = 0x100000001B3  # FNV-64 prime: weights a byte by its position in the word
Q = 0x9E3779B97F4A7C15  # golden-ratio constant: weights a word by its position in the shingle
MASK64 = (1 << 64) - 1
MAX_HASH32 = np.uint32(0xFFFFFFFF)
SPACE = 0x20


def normalize_for_dedup(text: pl.Series) -> pl.Series:
    """NFKC, lower case, punctuation and symbols to spaces, whitespace folded: what 'the same text' means.

    ASCII text is its own NFKC form, so only the other documents pay for normalization; whitespace is rewritten
    only where it is not already a single space.
    """
    needs_nfkc = text.str.contains(r"[^\x00-\x7F]").fill_null(False)
    if needs_nfkc.any():
        text = text.scatter(needs_nfkc.arg_true(), text.filter(needs_nfkc).str.normalize("NFKC"))
    return (
        text.str.to_lowercase()
        .str.replace_all(r"[\p{P}\p{S}]", " ")
        .str.replace_all(r"\s{2,}|[^\S ]", " ")
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


@numba.njit(nogil=True, cache=True)
def _shingle_kernel(data, offsets, ngram, out_doc, out_hash):  # pragma: no cover - compiled
    """Fill (document, 32-bit shingle hash) for every shingle; returns how many were written."""
    p, q = np.uint64(P), np.uint64(Q)
    m1, m2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
    s33 = np.uint64(33)
    qpow = np.empty(ngram, dtype=np.uint64)
    qpow[0] = np.uint64(1)
    for k in range(1, ngram):
        qpow[k] = qpow[k - 1] * q
    words = np.empty(len(data) // 2 + 2, dtype=np.uint64)
    n = 0
    for d in range(len(offsets) - 1):
        nw = 0
        h = np.uint64(0)
        weight = np.uint64(1)
        inside = False
        for j in range(offsets[d], offsets[d + 1]):
            c = data[j]
            if c == SPACE:
                if inside:
                    words[nw] = h
                    nw += 1
                    inside = False
            else:
                if not inside:
                    h = np.uint64(0)
                    weight = np.uint64(1)
                    inside = True
                h += np.uint64(c) * weight
                weight *= p
        if inside:
            words[nw] = h
            nw += 1
        count = nw - ngram + 1 if nw >= ngram else (1 if nw > 0 else 0)
        for i in range(count):
            acc = np.uint64(0)
            for k in range(min(ngram, nw - i)):
                acc += words[i + k] * qpow[k]
            acc ^= acc >> s33
            acc *= m1
            acc ^= acc >> s33
            acc *= m2
            acc ^= acc >> s33
            out_doc[n] = d
            out_hash[n] = np.uint32(acc >> np.uint64(32))
            n += 1
    return n


@numba.njit(nogil=True, cache=True)
def _minhash_kernel(doc, hashes, a, b, out):  # pragma: no cover - compiled
    """out[d, k] = min over d's shingles of a[k] * fmix32(h) + b[k] mod 2**32 (datasketch's affine32)."""
    mask = np.uint64(0xFFFFFFFF)
    for n in range(len(hashes)):
        h = np.uint64(hashes[n])
        h ^= h >> np.uint64(16)
        h = (h * np.uint64(0x85EBCA6B)) & mask
        h ^= h >> np.uint64(13)
        h = (h * np.uint64(0xC2B2AE35)) & mask
        h ^= h >> np.uint64(16)
        row = out[doc[n]]
        for k in range(len(a)):
            v = np.uint32((h * a[k] + b[k]) & mask)  # the modulo 2**32 of datasketch's uint32 arithmetic
            row[k] = min(row[k], v)


def _buffer(normalized: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a string column and each document's [start, end) offsets, without copying text."""
    arr = normalized.fill_null("").to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if len(arr) == 0 or offsets[-1] == offsets[0]:
        return np.zeros(1, np.uint8), np.zeros(len(arr) + 1, np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]


def shingle_hashes(normalized: pl.Series, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(document index, 32-bit shingle hash) for every shingle of a batch of normalized texts."""
    data, offsets = _buffer(normalized)
    capacity = int(np.count_nonzero(data == SPACE)) + len(normalized) + 1  # at most one shingle per word
    doc, hashes = np.empty(capacity, dtype=np.int32), np.empty(capacity, dtype=np.uint32)
    n = _shingle_kernel(data, offsets, ngram, doc, hashes)
    return doc[:n], hashes[:n]


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own (a, b) for this seed, so that signatures match its `MinHash(num_perm, seed)`."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def signatures(normalized: pl.Series, num_perm: int, seed: int, ngram: int) -> np.ndarray:
    """(documents x num_perm) uint32 MinHash signatures; a document with no words keeps the empty value."""
    doc, hashes = shingle_hashes(normalized, ngram)
    a, b = (x.astype(np.uint64) for x in permutations(num_perm, seed))
    out = np.full((len(normalized), num_perm), MAX_HASH32, dtype=np.uint32)
    _minhash_kernel(doc, hashes, a, b, out)
    return out
