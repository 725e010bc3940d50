"""Redaction of personal data, each kind selectable, with counts per kind.

Polars' regex engine has no look-around, so boundaries are matched as groups and put back in the replacement.
Card numbers are replaced only when their digits pass the Luhn check.
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
_H = r"[0-9A-Fa-f]{1,4}"
PATTERNS = {
    # any local@host token, erring on the safe side: malformed hosts (user@.example.com, a@b..edu), UUCP-style
    # and local hosts (user@host.localnet, root@localhost) and Message-IDs (<123.AA45@host.sub_domain>); a host
    # needs a letter or to be an IPv4 address, so package specs like pkg@1.2.3 stay, and @decorators have no local
    # part. Quoted local parts ("a b"@host) and doubled @@ count too. A local part has at most 64 characters (RFC
    # 5321): bounded, a search costs a constant per position in a backtracking engine (GX's Python `re`), where
    # `[...]+@` costs quadratic time over a long run without `@` (a base64 blob: 7 s for 40k characters).
    "email": r"""()(?:"[^"\n]{0,64}"|[A-Za-z0-9._%+=!#$&'*/?^`{|}~-]{1,64})@+(?:\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9._-]*[A-Za-z_][A-Za-z0-9._-]*[A-Za-z0-9_]|[A-Za-z_])()""",
    # +CC national number in groups, or North-American (415) 555-0132 / 415-555-0132; dates and ISBNs do not fit
    "phone": r"(^|[^\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})()\b",
    # dotted quads not glued to other words, dots or digits (so not v1.2.3.4 or 1.2.3.4.5); IPv6 full or with ::
    # (a compressed one must start with 2-4 hex digits, so C++'s a::b stays)
    "ip": rf"(^|[^\w.])(?:(?:{_OCTET}\.){{3}}{_OCTET}|(?:{_H}:){{7}}{_H}|[0-9A-Fa-f]{{2,4}}:(?:{_H}:){{0,5}}:(?:{_H}:){{0,5}}{_H}|::1)($|[^\w.:]|\.\s|\.$)",
    "national_id": r"(\b)(?:(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])-(?:0[1-9]|[1-9]\d)-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})|[A-CEGHJ-PR-TW-Z]{2} \d{2} \d{2} \d{2} [A-D])(\b)",
}
CARD_CANDIDATE = r"\b(?:\d[ -]?){12,18}\d\b"

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


def _redact_cards(text: str, token: str) -> str:
    return re.sub(CARD_CANDIDATE, lambda m: token if luhn_valid(m.group()) else m.group(), text)


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
