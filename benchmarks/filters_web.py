"""Quality filters on real web pages: each filter's precision (of the pages it removes, the share a reader would
remove) on WCXB pages labelled by hand (`benchmarks/data/wcxb-quality-labels.tsv`), with refinery's defaults and,
in the same run, with the filters as their sources set them (FineWeb's line punctuation at 0.12, Gopher's repeated
5-grams at 0.15, no repeated-line stripping, no sentence-end filter).

Pages are extracted as `ingest` did when the labels were made (`engine: trafilatura`; `--engine blocks` for
today's default, whose text the labels did not see), then cleaned with `data/recipes/web-en.yaml`'s `clean`
section. Every decision is counted; a decision about a page nobody labelled is reported as such, never guessed. The
labels say whether the extracted text, read whole, is writing a model should learn from (keep) or menus, product
grids, listings of titles, repeated promotions, consent text and fragments (drop); see the file's `note` column
for each reason. The development split was labelled and the defaults chosen on it; the test split's
labels were made after, and nothing was tuned on them.

    python benchmarks/filters_web.py --wcxb <checkout> [--split dev|test]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import polars as pl

from refinery.clean.lines import common_lines
from refinery.clean.steps import Corpus, clean_batch
from refinery.ingest.config import Extraction
from refinery.recipe import Clean, load_recipe

sys.path.insert(0, str(Path(__file__).parent))
from extract_bench import load, through_the_pipeline  # a sibling script, not a package

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "data" / "wcxb-quality-labels.tsv"
RECIPE = ROOT / "data" / "recipes" / "web-en.yaml"
LABELLED_ON = Extraction(engine="trafilatura")  # the extraction whose text the labels judge


def sources_settings(clean: Clean) -> Clean:
    """The filters as FineWeb and Gopher set them, the rest as refinery's defaults."""
    filters = clean.filters.model_copy(
        update={"min_punctuated_lines": 0.12, "min_sentence_ends": None, "max_duplicate_5grams": 0.15}
    )
    lines = clean.lines.model_copy(update={"repeated_lines": False})
    return clean.model_copy(update={"filters": filters, "lines": lines})


def labelled(split: str, column: str = "label") -> dict[str, str]:
    """Each labelled page of the split: its label, or another column of the labels file."""
    with LABELS.open() as fh:
        return {r["page"]: r[column] for r in csv.DictReader(fh, delimiter="\t") if r["split"] == split}


def drawn_from(split: str) -> dict[str, str]:
    """How each labelled page was drawn: from the pages the filters removed, a sample of those they kept, or
    (`random`) at random from the split, whatever the filters decided."""
    return labelled(split, "drawn_from")


def report(name: str, decided: pl.DataFrame) -> None:
    """Per filter: pages removed, of them labelled drop and keep, and unlabelled; precision over the labelled."""
    removed = decided.filter(pl.col("reason").is_not_null())
    table = (
        removed.group_by("reason")
        .agg(
            removed=pl.len(),
            drop=(pl.col("label") == "drop").sum(),
            keep=(pl.col("label") == "keep").sum(),
            unlabelled=pl.col("label").is_null().sum(),
        )
        .with_columns(precision=(pl.col("drop") / (pl.col("drop") + pl.col("keep"))).round(3))
        .sort("removed", descending=True)
    )
    kept = decided.filter(pl.col("reason").is_null())
    drop, keep = (removed.get_column("label") == "drop").sum(), (removed.get_column("label") == "keep").sum()
    print(f"\n{name}: {removed.height} of {decided.height} pages removed, precision {drop / max(1, drop + keep):.3f}")
    with pl.Config(tbl_rows=40, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(table)
    print(
        f"refined pages labelled drop: {(kept.get_column('label') == 'drop').sum()} "
        f"(labelled keep: {(kept.get_column('label') == 'keep').sum()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wcxb", type=Path, required=True, help="a checkout of the benchmark")
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--engine", default=LABELLED_ON.engine, choices=["trafilatura", "blocks", "resiliparse"])
    args = parser.parse_args()
    if not (args.wcxb / args.split / "ground-truth").is_dir():
        sys.exit(f"no WCXB checkout at {args.wcxb}")
    pages = load(args.wcxb, args.split, None)
    texts, _ = through_the_pipeline(pages, workers=2, extraction=Extraction(engine=args.engine))
    frame = pl.DataFrame({"doc_id": [p.id for p in pages], "text": texts, "source": "wcxb"}).filter(
        pl.col("text") != ""
    )
    labels = labelled(args.split)
    print(f"WCXB {args.split}: {len(pages)} pages, {frame.height} with text; {len(labels)} labelled")
    clean = load_recipe(RECIPE).clean
    for name, config in (("as their sources set them", sources_settings(clean)), ("refinery defaults", clean)):
        corpus = Corpus(common_lines=common_lines(frame.lazy()) if config.lines.common_lines else None)
        decided = clean_batch(frame, config, corpus).select(
            "doc_id", "reason", label=pl.col("doc_id").replace_strict(labels, default=None)
        )
        report(name, decided)


if __name__ == "__main__":
    main()
