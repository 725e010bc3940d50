"""How precise the PII rules are on look-alikes: for each kind of identifier that is not personal data (ISBN,
GTIN, DOI, versions, section numbers, package specs, decorators, program output), the share left untouched; for
each kind of personal item (e-mails, IPs with ports, phones, cards in groups), the share redacted. Against a
naive redactor measured in the same run: Luhn alone for cards, any `x@y` for e-mails, any dotted quad for IPs.

The labelled items come from `refinery_tests/identifiers.py`; the rules were tuned on seed 0, and this reports
seeds it never saw.

    python benchmarks/pii_bench.py [--seeds 1 2 3] [--each 40]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the tests' generators (refinery_tests.identifiers)
from refinery.clean.pii import luhn_valid, redact
from refinery_tests.identifiers import NOT_PERSONAL, labelled

KINDS = ["email", "phone", "ip", "card", "national_id"]
NAIVE = {
    "email": r"[\w.+-]+@[\w.-]+",
    "ip": r"\b\d{1,3}(?:\.\d{1,3}){3}\b",
    "card": r"\b(?:\d[ -]?){12,18}\d\b",
    "phone": r"\+\d[\d .-]{7,}\d|\(\d{3}\) ?\d{3}-\d{4}|\b\d{3}-\d{3}-\d{4}\b",
}


def naive(text: str) -> str:
    for kind, pattern in NAIVE.items():
        keep = (lambda m: "<CARD>" if luhn_valid(m.group()) else m.group()) if kind == "card" else f"<{kind.upper()}>"
        text = re.sub(pattern, keep, text)
    return text


def scores(items: list[tuple[str, str, bool]], outputs: list[str]) -> dict[str, float]:
    right: dict[str, list[bool]] = defaultdict(list)
    for (kind, text, personal), after in zip(items, outputs, strict=True):
        right[kind].append((after != text) == personal)
    return {kind: sum(r) / len(r) for kind, r in right.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--each", type=int, default=40)
    args = parser.parse_args()
    items = [item for seed in args.seeds for item in labelled(seed, args.each)]
    texts = [text for _, text, _ in items]
    ours = redact(pl.DataFrame({"text": texts}), KINDS, {}).get_column("text").to_list()
    refinery, baseline = scores(items, ours), scores(items, [naive(t) for t in texts])
    print(f"{len(items)} labelled items ({len(args.seeds)} seeds x {args.each} of each kind)")
    print(f"{'kind':16} {'measure':10} {'refinery':>9} {'naive':>7}")
    for kind in refinery:
        measure = "untouched" if kind in NOT_PERSONAL else "redacted"
        print(f"{kind:16} {measure:10} {refinery[kind]:9.3f} {baseline[kind]:7.3f}")
    untouched = [refinery[k] for k in refinery if k in NOT_PERSONAL]
    redacted = [refinery[k] for k in refinery if k not in NOT_PERSONAL]
    print(f"lowest untouched share {min(untouched):.3f}, lowest redacted share {min(redacted):.3f}")


if __name__ == "__main__":
    main()
