"""Redaction of personal data, each kind selectable, with counts per kind.

Polars' regex engine has no look-around, so boundaries are matched as groups and put back in the replacement.
Card numbers are replaced only when they look like a card: an issuer's prefix and length, groups as printed on
cards (or none), and digits that pass the Luhn check. Look-alikes measured in `benchmarks/pii_bench.py`.
"""

from __future__ import annotations

import re

import polars as pl

TOKENS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ip": "<IP>",
    "card": "<CARD>",
    "national_id": "<NATIONAL_ID>",
}

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_WIDE = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d)"  # an octet of two or three digits
# a dotted quad with at least one octet of two or three digits: `7.8.2.1` is a section or version number far more
# often than an address (the public resolvers 1.1.1.1 and 8.8.8.8 are not personal data)
_QUAD = "|".join(rf"(?:\d\.){{{k}}}{_WIDE}(?:\.{_OCTET}){{{3 - k}}}" for k in range(4))
_H = r"[0-9A-Fa-f]{1,4}"
PATTERNS = {
    # any local@host token, erring on the safe side: malformed hosts (user@.example.com, a@b..edu), UUCP-style
    # and local hosts (user@host.localnet, root@localhost) and Message-IDs (<123.AA45@host.sub_domain>); a host
    # is dotted with a letter in its last label, localhost, or an IPv4 address, so package specs (pkg@1.2.3,
    # vite@latest) stay, and @decorators have no local part. Quoted local parts ("a b"@host) and doubled @@ count too. A local part has at most 64 characters (RFC
    # 5321): bounded, a search costs a constant per position in a backtracking engine (GX's Python `re`), where
    # `[...]+@` costs quadratic time over a long run without `@` (a base64 blob: 7 s for 40k characters).
    "email": r"""()(?:"[^"\n]{0,64}"|[A-Za-z0-9._%+=!#$&'*/?^`{|}~-]{1,64})@+(?:\d{1,3}(?:\.\d{1,3}){3}|\.?(?:[A-Za-z0-9_-]+\.+)+[A-Za-z0-9_-]*[A-Za-z_][A-Za-z0-9_-]*|localhost)()""",
    # +CC national number in groups, or North-American (415) 555-0132 / 415-555-0132; dates and ISBNs do not fit
    "phone": r"(^|[^\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})()\b",
    # dotted quads not glued to other words, dots or digits (so not v1.2.3.4 or 1.2.3.4.5), a port after one
    # kept (10.0.0.7:5000); IPv6 full or with :: (a compressed one must start with 2-4 hex digits, so C++'s a::b
    # stays)
    "ip": rf"(^|[^\w.])(?:{_QUAD}|(?:{_H}:){{7}}{_H}|[0-9A-Fa-f]{{2,4}}:(?:{_H}:){{0,5}}:(?:{_H}:){{0,5}}{_H}|::1)($|[^\w.:]|\.\s|\.$|:\d)",
    "national_id": r"(\b)(?:(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])-(?:0[1-9]|[1-9]\d)-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})|[A-CEGHJ-PR-TW-Z]{2} \d{2} \d{2} \d{2} [A-D])(\b)",
}
CARD_CANDIDATE = r"\b(?:\d[ -]?){12,18}\d\b"
# issuers' prefixes and lengths (Visa 16 or 19: 13-digit Visas are gone, and 13 digits are mostly GTINs)
ISSUERS = [
    (re.compile(r"4"), (16, 19)),  # Visa
    (re.compile(r"5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),  # American Express
    (re.compile(r"6(?:011|4[4-9]|5)"), (16, 17, 18, 19)),  # Discover
    (re.compile(r"35(?:2[89]|[3-8]\d)"), (16, 17, 18, 19)),  # JCB
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 15, 16, 17, 18, 19)),  # Diners Club
    (re.compile(r"62"), (16, 17, 18, 19)),  # UnionPay
]
CARD_GROUPS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4)}  # as printed; or no separator at all

# The same matches for finding (not replacing): a number always ends in a digit, so the closing Unicode word boundary
# is "a non-word character or the end". Consuming that character would hide a number right after it from
# `replace_all`, but not whether a text has a match; and Polars' regex engine runs a Unicode `\b` on non-ASCII text
# with its slowest matcher (10x here). The gate checks these, and redaction replaces only in texts that match.
FIND = {**PATTERNS, "phone": PATTERNS["phone"].removesuffix(r"()\b") + r"(\W|$)"}


def luhn_valid(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_like(candidate: str) -> bool:
    """A number an issuer could have printed: its prefix and length, grouped as on a card, and the Luhn check."""
    digits = "".join(c for c in candidate if c.isdigit())
    groups = tuple(len(g) for g in re.split(r"[ -]", candidate))
    if len(groups) > 1 and groups not in CARD_GROUPS:
        return False
    issued = any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in ISSUERS)
    return issued and luhn_valid(digits)


def _redact_cards(text: str, token: str) -> str:
    return re.sub(CARD_CANDIDATE, lambda m: token if card_like(m.group()) else m.group(), text)


def redact(frame: pl.DataFrame, kinds: list[str], tokens: dict[str, str]) -> pl.DataFrame:
    """Replace each selected kind in `text` by its token; add a `pii_<kind>` count column per kind."""
    tokens = {**TOKENS, **tokens}
    for kind in kinds:
        if kind == "card":
            frame = _redact_card_column(frame, tokens["card"])
            continue
        text = frame.get_column("text")
        found = text.str.contains(FIND[kind]).fill_null(False)
        count = pl.zeros(len(text), pl.Int32, eager=True).alias(f"pii_{kind}")
        if found.any():
            suspects = text.filter(found)
            count = count.scatter(found.arg_true(), suspects.str.count_matches(PATTERNS[kind]).cast(pl.Int32))
            replaced = suspects.str.replace_all(PATTERNS[kind], "${1}" + tokens[kind].replace("$", "$$") + "${2}")
            text = text.scatter(found.arg_true(), replaced)
        frame = frame.with_columns(text.alias("text"), count)
    return frame


def _redact_card_column(frame: pl.DataFrame, token: str) -> pl.DataFrame:
    """Luhn needs digit arithmetic per candidate: done in Python, only on the rare rows with a candidate."""
    text = frame.get_column("text")
    suspect = text.str.contains(CARD_CANDIDATE).fill_null(False)
    before = text.str.count_matches(re.escape(token)).fill_null(0)
    if suspect.any():
        fixed = pl.Series([_redact_cards(t, token) for t in text.filter(suspect)], dtype=pl.String)
        text = text.scatter(suspect.arg_true(), fixed)
    found = (text.str.count_matches(re.escape(token)).fill_null(0) - before).cast(pl.Int32)
    return frame.with_columns(text.alias("text"), found.alias("pii_card"))
