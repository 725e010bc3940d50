"""Deterministic synthetic ore: realistic-looking forum posts and pages with seeded duplicates, junk, PII and
malformed records. Used for the sample ore in `data/`, the tests and the benchmarks.

    python -m refinery_tests.synth data/ore      # rewrites the sample ore, byte for byte the same every time
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

import polars as pl

SUBJECTS = [
    "the new firmware",
    "my old laptop",
    "this library",
    "the city council",
    "our hiking group",
    "the recipe",
    "the garden hose",
    "the train schedule",
    "a used bicycle",
    "the backup script",
    "the coffee grinder",
    "my sourdough starter",
    "the local library",
    "the solar panel",
    "the database migration",
    "the camera lens",
    "the night shift",
    "the school board",
    "the weather station",
    "my vegetable patch",
]
VERBS = [
    "keeps failing after",
    "works much better with",
    "was discussed during",
    "needs a fix before",
    "finally arrived with",
    "broke down during",
    "got cheaper after",
    "was replaced by",
    "depends heavily on",
    "improved a lot since",
    "caused trouble during",
    "will be reviewed after",
]
OBJECTS = [
    "the last update",
    "a careful cleaning",
    "the winter storm",
    "the budget meeting",
    "a long weekend",
    "the second attempt",
    "a fresh install",
    "the spring sale",
    "the morning commute",
    "a power outage",
    "the community vote",
    "a firmware rollback",
    "the holiday rush",
    "a thorough inspection",
]
TAILS = [
    "and I wonder whether anyone else has seen the same thing",
    "which surprised most of the people I asked",
    "so I wrote down every step that I tried",
    "although the manual says nothing about it",
    "and the support team has not answered yet",
    "but it took me three evenings to figure out",
    "which is why I am posting this here",
    "and the results were better than expected",
]
OPENERS = [
    "Quick question for the group.",
    "Long time reader, first post.",
    "Update on my earlier thread.",
    "Sharing this in case it helps someone.",
    "I have been going back and forth on this.",
]
CLOSERS = [
    "Thanks in advance for any advice.",
    "Happy to share more details if needed.",
    "Let me know what you think.",
    "Cheers, and have a good week.",
]
FRENCH = (
    "Bonjour à tous, je voudrais savoir si quelqu'un a déjà essayé cette méthode pour réparer le vélo. "
    "Merci beaucoup pour vos conseils et vos réponses, je vous souhaite une très bonne journée."
)
GERMAN = (
    "Hallo zusammen, hat jemand Erfahrung mit diesem Gerät? Ich habe es letzte Woche gekauft und es "
    "funktioniert leider nicht so, wie ich es erwartet hatte. Vielen Dank für eure Hilfe und Tipps."
)
BOILERPLATE = (
    "Click here to subscribe to our newsletter!\nShare this post\nClick here to subscribe to our "
    "newsletter!\nShare this post\nClick here to subscribe to our newsletter!\nShare this post\n" * 3
)


ADJECTIVES = [
    "cheap",
    "reliable",
    "noisy",
    "second-hand",
    "brand new",
    "tiny",
    "heavy",
    "refurbished",
    "shared",
    "borrowed",
    "waterproof",
    "open-source",
    "handmade",
    "outdated",
    "portable",
    "quiet",
    "sturdy",
]
NOUNS = [
    "router",
    "kettle",
    "tent",
    "keyboard",
    "spreadsheet",
    "lawn mower",
    "bread machine",
    "drone",
    "printer",
    "thermostat",
    "kayak",
    "sewing machine",
    "graphics card",
    "bike trailer",
    "compost bin",
    "e-reader",
]
RESULTS = [
    "it still rattles at night",
    "the difference was obvious",
    "nothing changed at all",
    "my neighbour wants one too",
    "the battery lasts twice as long",
    "it paid for itself quickly",
    "I would not buy it again",
    "the noise went away completely",
    "half the parts were missing",
]


def sentence(rng: random.Random) -> str:
    template = rng.randrange(4)
    if template == 0:
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}, {rng.choice(TAILS)}."
    elif template == 1:
        text = (
            f"I tried a {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} for {rng.randint(2, 40)} days and "
            f"{rng.choice(RESULTS)}."
        )
    elif template == 2:
        text = (
            f"Has anyone compared the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} with a "
            f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} from {rng.randint(2009, 2026)}?"
        )
    else:
        text = f"After {rng.randint(2, 12)} weeks {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."
    return text[0].upper() + text[1:]


def document(rng: random.Random, sentences: int | None = None) -> str:
    n = sentences or rng.randint(4, 12)
    body = [sentence(rng) for _ in range(n)]
    cut = rng.randint(1, n)
    paragraphs = [" ".join(body[:cut]), " ".join(body[cut:])]
    return "\n\n".join(p for p in [rng.choice(OPENERS), *paragraphs, rng.choice(CLOSERS)] if p)


def near_variant(rng: random.Random, text: str) -> str:
    """A near-duplicate: a few word edits, a changed header or footer, truncation or extension, case noise."""
    words = text.split(" ")
    kind = rng.choice(["edit", "footer", "extend", "case"])
    if kind == "edit":
        for _ in range(max(1, len(words) // 40)):
            words[rng.randrange(len(words))] = rng.choice(["really", "quite", "very", "also"])
        return " ".join(words)
    if kind == "footer":
        return text + "\n\n-- sent from my phone"
    if kind == "extend":
        return text + " " + sentence(rng)
    return text.upper() if rng.random() < 0.3 else "  ".join(words)


def mojibake(text: str) -> str:
    return text.replace("I ", "I’m sure ").encode("utf-8").decode("latin-1", errors="replace")


def with_pii(rng: random.Random, text: str) -> str:
    contact = rng.choice(
        [
            f"Email me at user{rng.randint(1, 999)}@example.org for the files.",
            f"Call me on +1 415 555 {rng.randint(1000, 9999)} after six.",
            f"My server is at 192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)} if you want to test.",
            f"Reach me at (212) 555-{rng.randint(1000, 9999)} or j.doe{rng.randint(1, 99)}@mail.example.com.",
        ]
    )
    return text + "\n\n" + contact


def forum_posts(rng: random.Random, n: int) -> list[dict]:
    """Posts with ~8% exact and ~8% near duplicates, ~6% junk, ~5% PII, some mojibake and other languages."""
    posts: list[dict] = []
    for i in range(n):
        roll = rng.random()
        if posts and roll < 0.08:
            body = rng.choice(posts)["body"]
        elif posts and roll < 0.16:
            body = near_variant(rng, rng.choice(posts)["body"])
        elif roll < 0.19:
            body = rng.choice(["+1", "thanks!", "same here", "bump", "lol"])
        elif roll < 0.21:
            body = BOILERPLATE
        elif roll < 0.22:
            body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12
        elif roll < 0.25:
            body = rng.choice([FRENCH, GERMAN]) + " " + rng.choice([FRENCH, GERMAN])
        elif roll < 0.30:
            body = with_pii(rng, document(rng))
        elif roll < 0.33:
            body = mojibake(document(rng))
        else:
            body = document(rng)
        posts.append(
            {"post_id": f"p{i:06d}", "thread": f"t{i // 7:05d}", "author": f"user{rng.randint(1, 400)}", "body": body}
        )
    return posts


def page(rng: random.Random, i: int) -> str:
    paragraphs = "".join(f"<p>{sentence(rng)} {sentence(rng)} {sentence(rng)}</p>" for _ in range(rng.randint(3, 6)))
    return (
        f"<html><head><title>Community news {i}</title>"
        f'<link rel="canonical" href="https://news.example.org/story/{i}"></head><body>'
        "<nav><a href='/'>Home</a> | <a href='/about'>About</a> | <a href='/contact'>Contact</a></nav>"
        f"<article><h1>Community news {i}</h1>{paragraphs}</article>"
        "<footer>Copyright 2026 Example News. All rights reserved. Privacy policy.</footer></body></html>"
    )


def write_sample_ore(root: Path, seed: int = 20261127) -> None:
    rng = random.Random(seed)
    (root / "forums").mkdir(parents=True, exist_ok=True)
    (root / "exports").mkdir(parents=True, exist_ok=True)
    (root / "pages").mkdir(parents=True, exist_ok=True)
    posts = forum_posts(rng, 2400)
    for part in range(2):
        lines = [json.dumps(p, ensure_ascii=False) for p in posts[part * 1200 : (part + 1) * 1200]]
        lines[100 + part] = lines[100 + part][:-7]  # a truncated record
        lines.insert(300, '{"post_id": "p-missing", "thread": "t0", "author": "ghost"}')  # no body
        lines.insert(500, "this is not json at all")
        (root / "forums" / f"posts-{part:02d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    export = forum_posts(rng, 900)
    export += [dict(p, post_id=f"x{p['post_id']}") for p in rng.sample(posts, 60)]  # cross-source duplicates
    with open(root / "exports" / "helpdesk.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ticket_id", "subject", "body"])
        for j, p in enumerate(export):
            writer.writerow([p["post_id"], f"Ticket {j}", p["body"]])
            if j in (40, 41 + 400):
                fh.write(f"broken{j},Ticket {j},a row,with,too many,fields\n")
    for i in range(12):
        (root / "pages" / f"story-{i:03d}.html").write_text(page(rng, i), encoding="utf-8")
    (root / "pages" / "empty.html").write_text("<html><body><nav>Home</nav></body></html>", encoding="utf-8")
    write_support_ore(root, random.Random(seed + 1))


def write_support_ore(root: Path, rng: random.Random) -> None:
    """The second sample: plain-text manuals (one file, one document) and a Parquet archive of old tickets."""
    (root / "manuals").mkdir(parents=True, exist_ok=True)
    (root / "archive").mkdir(parents=True, exist_ok=True)
    for i in range(20):
        (root / "manuals" / f"manual-{i:03d}.txt").write_text(document(rng, 12), encoding="utf-8")
    tickets = forum_posts(rng, 400)
    archive = pl.DataFrame(
        {"ticket": [t["post_id"] for t in tickets], "body": [t["body"] for t in tickets]}, orient="col"
    )
    archive.write_parquet(root / "archive" / "tickets-2025.parquet", compression="zstd", statistics=False)


if __name__ == "__main__":
    write_sample_ore(Path(sys.argv[1] if len(sys.argv) > 1 else "data/ore"))
