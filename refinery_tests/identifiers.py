"""Labelled look-alikes for the PII rules, deterministic from a seed: identifiers that are not personal data but
look like it (ISBNs, DOIs, GTINs, versions, section numbers, package specs, decorators, program output), and
personal items written the ways people write them (e-mails, IPs with ports, phones, card numbers in groups).
`refinery_tests/test_clean.py` and `benchmarks/pii_bench.py` use them."""

from __future__ import annotations

import random
from collections.abc import Callable


def _check_1_3(digits: str) -> str:
    """The GS1 check digit (ISBN-13, GTIN-13): weights 1 and 3 from the left."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return str((10 - total % 10) % 10)


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = int(d) * 2 if i % 2 == 0 else int(d)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def isbn(rng: random.Random) -> str:
    body = rng.choice(["978", "979"]) + _digits(rng, 9)
    number = body + _check_1_3(body)
    if rng.random() < 0.5:
        return f"ISBN {number}"
    return f"ISBN {number[:3]}-{number[3]}-{number[4:7]}-{number[7:12]}-{number[12]}"


def gtin(rng: random.Random) -> str:
    body = rng.choice("0123456789") + _digits(rng, 11)
    return rng.choice(["EAN", "GTIN", "barcode"]) + " " + body + _check_1_3(body)


def doi(rng: random.Random) -> str:
    prefix = f"10.{rng.randint(1000, 99999)}"
    article = f"s{_digits(rng, 5)}-0{_digits(rng, 2)}-{_digits(rng, 4)}-{rng.randint(0, 9)}"
    suffix = rng.choice([article, _digits(rng, 7)])
    return rng.choice(["doi:", "https://doi.org/", "DOI "]) + f"{prefix}/{suffix}"


def version(rng: random.Random) -> str:
    parts = [rng.randint(0, 30), rng.randint(0, 40), rng.randint(0, 200)]
    if rng.random() < 0.3:  # Windows-style build numbers
        return f"build 10.0.{rng.randint(10240, 26100)}.{rng.randint(1, 4000)}"
    return rng.choice(["version ", "v", "release ", "python=="]) + ".".join(map(str, parts))


def section(rng: random.Random) -> str:
    """Mostly single-digit parts; one in five starts at 10-20 (a four-part one is then an address to the rules)."""
    depth = rng.choice([3, 4, 4])
    first = rng.randint(10, 20) if rng.random() < 0.2 else rng.randint(1, 9)
    numbers = ".".join(map(str, [first, *(rng.randint(1, 9) for _ in range(depth - 1))]))
    return rng.choice(["Section ", "§ ", "clause ", "see 3.", "Step "]) + numbers


def package(rng: random.Random) -> str:
    name = rng.choice(["vite", "react", "next", "typescript", "@types/node", "eslint", "left-pad"])
    release = f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
    tag = rng.choice(["latest", "next", "canary", "beta", release])
    return rng.choice(["npm create ", "npm i ", "pnpm add ", "yarn add "]) + f"{name}@{tag}"


def decorator(rng: random.Random) -> str:
    return rng.choice(["@app.route('/')", "@pytest.fixture", "@dataclass(frozen=True)", "@bp.get('/items')"])


def program_output(rng: random.Random) -> str:
    """Long numbers a program prints: counters, checksums in groups of four, timestamps, object ids."""
    groups = " ".join(_digits(rng, 4) for _ in range(4))
    forms = [f"elapsed_ns={_digits(rng, 16)}", f"checksum {groups}", f"ts: 1{_digits(rng, 15)}"]
    return rng.choice([*forms, f"object id {rng.randint(1, 9)}{_digits(rng, 17)}"])


def email(rng: random.Random) -> str:
    user = rng.choice(["jane.doe", "j.smith+news", "admin", "x_y-z", "mario.rossi"])
    host = rng.choice(["example.com", "mail.example.co.uk", "uni-example.edu", "example.org"])
    return f"{user}@{host}"


def ip_with_port(rng: random.Random) -> str:
    address = rng.choice(
        [
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ]
    )
    port = rng.choice(["", f":{rng.randint(1, 65535)}"])
    return rng.choice(["", "http://", "https://"]) + address + port + rng.choice(["", "/admin", "/"])


def phone(rng: random.Random) -> str:
    """North-American and British numbers, international and local forms."""
    area, line = rng.randint(201, 989), _digits(rng, 4)
    return rng.choice(
        [f"+1 {area} 555 {line}", f"+44 20 {_digits(rng, 4)} {line}", f"({area}) 555-{line}", f"{area}-555-{line}"]
    )


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)])
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + _luhn_digit(body)
    groups = [number[:4], number[4:10], number[10:]] if length == 15 else [number[i : i + 4] for i in range(0, 16, 4)]
    return rng.choice([" ", "-", ""]).join(groups)


NOT_PERSONAL: dict[str, Callable[[random.Random], str]] = {
    "isbn": isbn,
    "gtin": gtin,
    "doi": doi,
    "version": version,
    "section": section,
    "package": package,
    "decorator": decorator,
    "program_output": program_output,
}
PERSONAL: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "email": ("email", email),
    "ip_with_port": ("ip", ip_with_port),
    "phone": ("phone", phone),
    "card": ("card", card),
}


def labelled(seed: int = 0, each: int = 40) -> list[tuple[str, str, bool]]:
    """(kind, text, personal): `each` of every kind, in a sentence."""
    rng = random.Random(seed)
    items = [(kind, make(rng), False) for kind, make in NOT_PERSONAL.items() for _ in range(each)]
    items += [(kind, make(rng), True) for kind, (_, make) in PERSONAL.items() for _ in range(each)]
    return [(kind, f"See {value} for details.", personal) for kind, value, personal in items]
