import random

import numpy as np
import polars as pl
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from refinery.dedup.lsh import ShingleSets, bands, candidate_pairs, components, jaccard, windowed_jaccard
from refinery.dedup.minhash import normalize_for_dedup, shingle_hash, shingle_hashes, shingles, signatures
from refinery.runtime.engine import Engine
from refinery_tests.synth import document, near_variant

TEXTS = [
    "The quick brown fox jumps over the lazy dog, again and again!",
    "",
    "two words",
    "Ünïcödé text — with ‘quotes’ and emoji 🎉 in a sentence of several words",
    "ＦＵＬＬＷＩＤＴＨ letters and\ttabs\nand newlines   everywhere in this one",
    "  C++/C# & snake_case: a=b+c; [x]{y}(z) <tag> 50% $5 ~ok~ `code` ^hat| \\path ",
    "ctrl\x00chars\x1fand\x0bvertical\x0cfeed\rreturn\x7fdel plus...trailing!!!",
    "non\u00a0breaking\u2009thin\u3000ideographic\u2028line and Dashes—en–dash ＡＳＣＩＩ！",
    "?!.,;:",
]


def _normalized(texts: list[str]) -> pl.Series:
    return normalize_for_dedup(pl.Series(texts))


@pytest.mark.parametrize("ngram", [1, 3, 5])
@pytest.mark.parametrize("num_perm", [64, 128])
def test_signatures_equal_datasketch_minhash(rng, ngram, num_perm):
    texts = TEXTS + [document(rng) for _ in range(20)]
    ours = signatures(pl.Series(texts), num_perm, 42, ngram)  # raw text: the kernels normalize as they go
    for i, text in enumerate(_normalized(texts)):
        theirs = MinHash(num_perm=num_perm, seed=42, hashfunc=shingle_hash)
        theirs.update_batch(shingles(text, ngram))
        np.testing.assert_array_equal(ours[i], theirs.hashvalues)


def test_vectorized_shingle_hashes_match_the_scalar_function():
    doc, hashes, _ = shingle_hashes(pl.Series(TEXTS), 3)
    for i, text in enumerate(_normalized(TEXTS)):
        assert sorted(hashes[doc == i].tolist()) == sorted(shingle_hash(s) for s in shingles(text, 3))


def test_text_hash_is_equal_exactly_when_normalized_texts_are():
    texts = [*TEXTS, "HELLO, world", "hello world!", "hello  world", "hello worlds", "world hello", None]
    _, _, text_hash = shingle_hashes(pl.Series(texts), 5)
    norm = _normalized(texts).fill_null("").to_list()
    for i in range(len(texts)):
        for j in range(len(texts)):
            assert (text_hash[i] == text_hash[j]) == (norm[i] == norm[j]), (texts[i], texts[j])


def test_normalization_folds_case_punctuation_and_width():
    norm = _normalized(["Hello,   WORLD!!", "hello world", "ｈｅｌｌｏ　ｗｏｒｌｄ"])
    assert norm.to_list() == ["hello world"] * 3


def test_signatures_work_in_datasketch_lsh(rng):
    base = document(rng, 12)
    texts = pl.Series([base, near_variant(rng, base) + " extra words at the end", document(rng, 12)])
    sig = signatures(texts, 128, 1, 5)
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    for i, s in enumerate(sig):
        lsh.insert(str(i), LeanMinHash(seed=1, hashvalues=s, scheme="affine32"))
    assert "1" in lsh.query(LeanMinHash(seed=1, hashvalues=sig[0], scheme="affine32"))
    assert "2" not in lsh.query(LeanMinHash(seed=1, hashvalues=sig[0], scheme="affine32"))


def test_bands_are_datasketch_optimal_parameters():
    b, r = bands(0.8, 128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert (b, r) == (lsh.b, lsh.r) and b * r <= 128


def test_candidate_pairs_components_and_exact_jaccard(tmp_path):
    bands_frame = pl.DataFrame(
        {
            "idx": [0, 1, 2, 3, 4, 0, 4],
            "band": [0, 0, 0, 0, 0, 1, 1],
            "key": [7, 7, 9, 9, 5, 3, 3],
            "rank": [5, 1, 2, 3, 4, 5, 4],
        },
        schema={"idx": pl.Int64, "band": pl.Int16, "key": pl.UInt64, "rank": pl.UInt64},
    )
    bands_frame.write_parquet(tmp_path / "b.parquet")
    pairs = pl.read_parquet(candidate_pairs([tmp_path / "b.parquet"], tmp_path / "spill"))
    assert pairs.rows() == [(0, 1), (0, 4), (2, 3)]
    clusters = dict(components(pairs).rows())
    assert clusters == {0: 0, 1: 0, 4: 0, 2: 2, 3: 2}
    doc, hashes = np.array([0, 0, 0, 0, 1, 1, 2]), np.array([1, 2, 3, 3, 2, 3, 9], dtype=np.uint32)
    sets = ShingleSets.build(np.array([0, 1, 4]), doc, hashes)  # documents 0, 1 and 4; a repeated shingle
    assert jaccard(np.array([0, 0, 1]), np.array([1, 4, 1]), sets).tolist() == pytest.approx([2 / 3, 0.0, 1.0])


def test_candidate_pairs_do_not_depend_on_how_buckets_stream_back(tmp_path):
    rng = np.random.default_rng(7)
    n = 3000
    frame = pl.DataFrame(
        {
            "idx": np.tile(np.arange(n), 3),
            "band": np.repeat(np.arange(3, dtype=np.int16), n),
            "key": rng.integers(0, 700, 3 * n).astype(np.uint64),  # buckets of every size, a few past 16
            "rank": np.tile(rng.integers(0, 1 << 60, n).astype(np.uint64), 3),
        }
    )
    frame.write_parquet(tmp_path / "b.parquet")

    def pairs(rows: int, engine: Engine | None = None) -> pl.DataFrame:
        found = candidate_pairs([tmp_path / "b.parquet"], tmp_path / "spill", batch_rows=rows, engine=engine)
        return pl.read_parquet(found)

    whole = pairs(1 << 20)
    for rows in (1, 7, 1000):
        assert pairs(rows).equals(whole)
    assert whole.height > n and (whole.get_column("a") < whole.get_column("b")).all()
    engine = Engine(2)  # each band grouped by a shard of its own, on the engine's workers
    assert pairs(7, engine).equals(whole) and engine.tasks["local"] == 3


def test_windowed_jaccard_holds_a_window_and_agrees_with_holding_everything(tmp_path, rng):
    texts = [document(rng, 3) for _ in range(60)]
    texts += [near_variant(rng, t) for t in texts[:30]]
    doc, hashes, _ = shingle_hashes(pl.Series(texts), 3)
    everything = ShingleSets.build(np.arange(len(texts)), doc, hashes)
    parts = []
    for first in range(0, len(texts), 9):  # parts of 9 documents, saved as the dedup stage saves them
        keep = (doc >= first) & (doc < first + 9)
        ids = np.arange(first, min(first + 9, len(texts)))
        parts.append(ShingleSets.build(ids, doc[keep] - first, hashes[keep]).save(tmp_path / f"{first}.npz"))
    a = np.repeat(np.arange(len(texts)), 3)
    b = (a + np.tile([1, 31, 60], len(texts))) % len(texts)
    a, b = np.minimum(a, b), np.maximum(a, b)
    direct = jaccard(a, b, everything)
    assert (direct[(b - a == 60) & (a < 30)] > 0.3).all()  # the variants are there to find
    for budget in (1, 200, 1 << 30):  # a part per window, a few parts, all of them
        np.testing.assert_array_equal(windowed_jaccard(a, b, parts, budget), direct)
        few = slice(100, 106)  # a few pairs: only their parts are read
        np.testing.assert_array_equal(windowed_jaccard(a[few], b[few], parts, budget), direct[few])


MESSY = (
    "abcXYZ019 .,;:!?'\"-_()[]{}<>@#$%^&*+=/\\|~`\t\n\r\x0b\x0c\x00\x1f\x7f"
    "éÉüÜñÑçøÅßẞàÀ"  # precomposed Latin
    "\u0301\u0308\u0327"  # combining marks
    "ΣσςΑΩΩ"  # Greek, final sigma, the ohm sign
    "İıKÅ"  # dotted capital I, dotless i, Kelvin and Angstrom signs
    "ＡＢｃ１！　"  # full width
    "ﬁﬂ™½²"  # ligatures and compatibility forms
    "\u00a0\u2009\u202f\u2028\u3000\u200b\u200d"  # no-break, thin, line and ideographic spaces, zero-widths
    "…—–‘’“”«»•·"  # typographic punctuation
    "日本語中文한국어\u1100\u1161\u11a8"  # CJK, Hangul syllables and jamo
    "ПриветМИР"  # Cyrillic
    "नमस्ते\u093f"  # Devanagari with vowel signs
    "🙂🎉👍🏽\U0002a6d6"  # emoji, a skin tone, a CJK extension B character past the tables
)


def test_kernels_fold_messy_unicode_exactly_as_the_reference_normalization():
    rng = random.Random(11)
    texts = ["".join(rng.choice(MESSY) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    common = "abc XYZ.,!'\téÉüñçßàωσς…—’“”日本한국ПриветМИР🙂\u00a0\u3000"  # folded by the kernels alone
    texts += ["".join(rng.choice(common) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    texts += ["Ünïcödé café — “quoted” text… and more words here", "plain ascii words only in this one"]
    doc, hashes, text_hash = shingle_hashes(pl.Series(texts), 2)
    normalized = _normalized(texts).to_list()
    for i, norm in enumerate(normalized):
        assert sorted(hashes[doc == i].tolist()) == sorted(shingle_hash(s) for s in shingles(norm, 2)), texts[i]
    first_with = {}
    for i, norm in enumerate(normalized):  # text hashes agree exactly when normalized texts do
        j = first_with.setdefault(norm, i)
        assert text_hash[i] == text_hash[j]
    assert len(set(text_hash.tolist())) == len(first_with)


def test_permutations_that_datasketch_would_not_use_are_refused():
    """The start-up check breaks on 1.6's scheme (multipliers cut to 32 bits, half of them even)."""
    from refinery.dedup.minhash import check_permutations, permutations

    a, b = permutations(128, 1)
    check_permutations(a, b, 1)
    truncated = a & np.uint32(0xFFFFFFFE)  # every multiplier even, as 1.6's truncation made 69 of 128
    with pytest.raises(RuntimeError, match="computes MinHash signatures another way"):
        check_permutations(truncated, b, 1)
