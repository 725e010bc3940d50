"""WCXB's extraction metric, shared by the tests and `benchmarks/extract_bench.py`."""

import re
from collections import Counter


def _words(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text.lower()))


def word_f1(predicted: str, reference: str) -> float:
    """The benchmark's metric: bag-of-words overlap of lower-cased `\\w+` tokens (an empty reference is matched
    only by an empty output)."""
    pred, ref = _words(predicted), _words(reference)
    if not ref:
        return float(not pred)
    overlap = sum((pred & ref).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)
