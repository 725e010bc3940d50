"""Does refining make better fuel? `refinery.ablation` on real text: the same Kneser-Ney trigram model trained on
equal token budgets of the raw ore and of the refined text, scored on held-out text neither holds, 3 seeds each.

- web (`--wcxb <checkout>`): the ore is the pipeline's extraction of WCXB's 1,497 development pages; refined, those
  pages after `data/recipes/web-en.yaml`'s cleaning (line rules, filters); the evaluation text is the human-written
  main content of its test pages that are not also development pages (a person's extraction, not refinery's). A
  third side keeps the refined pages' top half by a quality score (`refinery.clean.quality`) trained on the main
  content of WCXB's development articles (human text of the kind the evaluation holds, as DCLM picks its reference)
  against half the refined pages.
- forum (`--corpus`, the shared 20 Newsgroups split): the ore is 90% of the posts (by a hash of their id) as they
  are; refined, those posts after `data/recipes/forum-en.yaml`'s cleaning. Evaluated twice: on the WCXB human-written
  main content (general written English), and on the other 10% of the posts as they are (headers, quotes and
  signatures included, which cleaning strips from the training side: the raw side's home ground).

    python benchmarks/ablation_bench.py [--wcxb <checkout>] [--corpus ../shared/corpora/news20-train.jsonl.gz]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from extract_bench import load, through_the_pipeline  # sibling scripts, not a package

from refinery.clean.lines import common_lines
from refinery.clean.quality import train
from refinery.clean.steps import Corpus, clean_batch
from refinery.lm import ablate, tokens
from refinery.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "news20-train.jsonl.gz"


def refined(frame: pl.DataFrame, recipe: str) -> pl.Series:
    """The texts a recipe's cleaning keeps, as it leaves them."""
    config = load_recipe(ROOT / "data" / "recipes" / recipe).clean
    corpus = Corpus(common_lines=common_lines(frame.lazy()) if config.lines.common_lines else None)
    return clean_batch(frame, config, corpus).filter(pl.col("reason").is_null()).get_column("text")


def report(name: str, sides: dict[str, pl.Series], evaluation: pl.Series) -> None:
    sizes = {side: int(tokens(texts).list.len().sum()) for side, texts in sides.items()}
    started = time.perf_counter()
    result = ablate(sides, evaluation)  # half the smaller side's tokens a side
    held = ", ".join(f"{side} {len(sides[side]):,} documents ({n:,} tokens)" for side, n in sizes.items())
    print(
        f"\n{name}: {held}; {result['budget_tokens']:,} tokens a side, "
        f"evaluation {result['evaluation']['tokens']:,} tokens, {time.perf_counter() - started:.1f} s"
    )
    for side, r in result["sides"].items():
        runs = ", ".join(f"{p:.1f}" for p in r["perplexity"])
        print(
            f"  {side:<16} perplexity {r['mean']:8.1f}  95% interval {r['interval'][0]:.1f}-{r['interval'][1]:.1f}"
            f"  (seeds: {runs})"
        )
    print(f"  best: {result['best']}; intervals {'apart' if result['separated'] else 'overlap'}")


def web(checkout: Path, evaluation: pl.Series) -> None:
    pages = load(checkout, "dev", None)
    texts, _ = through_the_pipeline(pages, workers=2)
    frame = pl.DataFrame({"doc_id": [p.id for p in pages], "text": texts, "source": "wcxb"}).filter(
        pl.col("text") != ""
    )
    kept = refined(frame, "web-en.yaml")
    reference = [p.truth for p in pages if p.kind == "article" and p.truth]
    model = train(reference, kept.sample(fraction=0.5, seed=0).to_list(), seed=0)
    scores = model.score(kept)
    best = kept.filter(scores >= scores.median())
    sides = {"ore": frame.get_column("text"), "refined": kept, "refined, top half": best}
    report("web (WCXB dev pages), on WCXB test main content", sides, evaluation)


def forum(corpus: Path, evaluation: pl.Series | None) -> None:
    with gzip.open(corpus, "rt") as fh:
        posts = pl.DataFrame([json.loads(line) for line in fh]).select(doc_id="id", text="text", source=pl.lit("news"))
    held_out = posts.get_column("doc_id").hash(7) % 10 == 0
    ours = posts.filter(~held_out)
    ore, kept = ours.get_column("text"), refined(ours, "forum-en.yaml")
    if evaluation is not None:
        report("forum (20 Newsgroups), on WCXB test main content", {"ore": ore, "refined": kept}, evaluation)
    raw = posts.filter(held_out).get_column("text")
    report("forum (20 Newsgroups), on held-out raw posts", {"ore": ore, "refined": kept}, raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, help="a checkout of the web content extraction benchmark")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    evaluation = None
    if args.wcxb:
        evaluation = pl.Series([p.truth for p in load(args.wcxb, "test", None) if p.truth])
        web(args.wcxb, evaluation)
    if args.corpus.exists():
        forum(args.corpus, evaluation)
    else:
        print(f"no shared corpus at {args.corpus}: the forum ablation is skipped")


if __name__ == "__main__":
    main()
