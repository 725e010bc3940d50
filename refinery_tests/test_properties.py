"""The promises as properties (Hypothesis), over the pure stages: ingest → dedup → clean, run after each of a random
sequence of ore edits against the previous run's output, and once from scratch over the final ore.

- every record read ends in exactly one place (refined or removed), counted without the readers;
- the incremental run equals the from-scratch run: the same documents, the same duplicate groups, the same
  refined documents, except that in a group the previous version's document may be kept instead.

More examples on demand: HYPOTHESIS_EXAMPLES=200 pytest refinery_tests/test_properties.py
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refinery.clean import clean
from refinery.dedup import Reference, carry_forward, deduplicate
from refinery.identity import identify
from refinery.ingest import ingest_source
from refinery.ingest.count import count_records
from refinery.recipe import Clean, Filters, Source, source_files
from refinery.recipe import Dedup as DedupConfig
from refinery.validate.accounting import account
from refinery_tests.synth import document, near_variant

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "8"))
_rng = random.Random(3)
BASE = [document(_rng, 6) for _ in range(8)]
POOL = BASE + [near_variant(_rng, t) for t in BASE[:4]] + ["too short"]  # near copies and a filtered one
SOURCE = Source(name="posts", format="jsonl", path="ore/**/*.jsonl", text_field="body")
CLEAN = Clean(filters=Filters(min_words=20), pii=[])
DEDUP = DedupConfig()


@dataclass
class Run:
    refined: pl.DataFrame
    removed: pl.DataFrame
    reference: Reference
    expected: int
    ore: list[dict]


def refine(base: Path, work: Path, reference: Reference | None, append: bool = False, source: Source = SOURCE) -> Run:
    """ingest → (append: carry forward) → identify → dedup → clean, as the assets run them; accounting must pass."""
    ingested = ingest_source(source, base, work / "ingested", source_files(source, base))
    ore = [{"source": source.name, **o} for o in ingested.ore]
    carried: list[Path] = []
    if append and reference:
        carried = list(carry_forward(reference, ore, work / "carried"))
    inputs = carried[:1] + identify([ingested.records], work / "identified", carried)
    dedup = deduplicate(inputs, work / "dedup", DEDUP, reference if DEDUP.against_previous else None)
    cleaned = clean(dedup.kept, work / "clean", CLEAN)
    removed = [ingested.quarantine, *carried[1:], dedup.removed, cleaned.removed]
    expected = sum(count_records(f, source) for f in ingested.files)
    expected += sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in carried)
    verdict = account(cleaned.cleaned, removed, expected)
    assert verdict.passed, verdict.problems()
    return Run(
        pl.read_parquet(cleaned.cleaned),
        pl.concat([pl.read_parquet(p) for p in removed], how="vertical_relaxed"),
        Reference([cleaned.cleaned], dedup.signatures, removed=removed, ore=ore),
        expected,
        ore,
    )


def write_ore(base: Path, files: dict[str, list[int | str]]) -> None:
    ore = base / "ore"
    if ore.exists():
        for old in ore.rglob("*.jsonl"):
            old.unlink()
    for name, records in files.items():
        path = ore / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"body": POOL[r] if isinstance(r, int) else r}) for r in records]
        path.write_text("\n".join(lines) + ("\n" if lines else ""))


# an edit of the ore: (kind, which file, which record, what)
edits = st.tuples(
    st.sampled_from(["insert", "delete", "modify", "rename", "split", "reorder", "add_file"]),
    st.integers(0, 10),
    st.integers(0, 30),
    st.integers(0, len(POOL) - 1),
)


def apply(files: dict[str, list[int | str]], edit: tuple[str, int, int, int]) -> dict[str, list[int | str]]:
    kind, f, r, what = edit
    files = {k: list(v) for k, v in files.items()}
    names = sorted(files)
    name = names[f % len(names)]
    records = files[name]
    if kind == "insert":
        records.insert(r % (len(records) + 1), what)
    elif kind == "delete" and records:
        records.pop(r % len(records))
    elif kind == "modify" and records:
        i = r % len(records)
        text = POOL[records[i]] if isinstance(records[i], int) else records[i]
        records[i] = text + f" Edited {what} times."
    elif kind == "rename":
        files[f"moved/{what}-{name.replace('/', '-')}"] = files.pop(name)
    elif kind == "split" and len(records) > 1:
        cut = 1 + r % (len(records) - 1)
        files[name], files[f"{name}.part2.jsonl"] = records[:cut], records[cut:]
    elif kind == "reorder":
        random.Random(what).shuffle(records)
    elif kind == "add_file":
        files[f"drop-{what}-{r}.jsonl"] = [what, (what + r) % len(POOL)]
    return files


def groups(run: Run) -> dict[str, frozenset[str]]:
    """Each document's dedup group (itself, or with the document it duplicates and that one's other duplicates),
    keyed by the group's keeper."""
    dupes = run.removed.filter(pl.col("stage") == "dedup").select("doc_id", "duplicate_of")
    members: dict[str, set[str]] = {}
    for doc, keeper in dupes.iter_rows():
        members.setdefault(keeper, {keeper}).add(doc)
    return {k: frozenset(v) for k, v in members.items()}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.lists(st.lists(st.integers(0, len(POOL) - 1), max_size=6), min_size=1, max_size=3),
    history=st.lists(edits, min_size=1, max_size=3),
)
def test_incremental_runs_equal_a_run_from_scratch(start, history):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        files: dict[str, list[int | str]] = {f"f{i}.jsonl": recs for i, recs in enumerate(start)}
        write_ore(base, files)
        run = refine(base, base / "run-0", None)
        previous = run
        for step, edit in enumerate(history, 1):
            files = apply(files, edit)
            write_ore(base, files)
            previous, run = run, refine(base, base / f"run-{step}", run.reference)
        scratch = refine(base, base / "scratch", None)

        read = {*run.refined.get_column("doc_id"), *run.removed.get_column("doc_id")}
        assert read == {*scratch.refined.get_column("doc_id"), *scratch.removed.get_column("doc_id")}
        assert run.expected == scratch.expected == run.refined.height + run.removed.height

        inc, fresh = groups(run), groups(scratch)
        assert set(inc.values()) == set(fresh.values())  # the same duplicate groups
        prior = set(previous.refined.get_column("doc_id"))
        swapped = {k for k, g in inc.items() if k not in fresh}
        assert swapped <= prior  # a keeper differs only where the previous version's document won
        in_swapped = set().union(*(inc[k] for k in swapped)) if swapped else set()
        refined_inc = set(run.refined.get_column("doc_id")) - in_swapped
        refined_fresh = set(scratch.refined.get_column("doc_id")) - in_swapped
        assert refined_inc == refined_fresh


def test_append_mode_carries_documents_whose_ore_is_gone(tmp_path):
    write_ore(tmp_path, {"day1.jsonl": [0, 1, 2]})
    first = refine(tmp_path, tmp_path / "run-1", None, append=True)
    respaced = POOL[0].replace(" ", "  ")  # another record, the same normalized text as a day 1 post
    write_ore(tmp_path, {"day2.jsonl": [3, respaced]})  # day 1 was consumed and deleted
    second = refine(tmp_path, tmp_path / "run-2", first.reference, append=True)
    assert set(second.refined.get_column("text")) == {POOL[i] for i in (0, 1, 2, 3)}
    dup = second.removed.filter(pl.col("stage") == "dedup").row(0, named=True)
    assert dup["reason"] == "exact_duplicate" and dup["duplicate_of"] in set(first.refined.get_column("doc_id"))
    snapshot = refine(tmp_path, tmp_path / "run-3", first.reference)
    assert set(snapshot.refined.get_column("text")) == {POOL[3], POOL[0]}  # day 1 left with its ore


ID_SOURCE = Source(name="posts", format="jsonl", path="ore/**/*.jsonl", text_field="body", id_field="id")
# a record of a drop: (its id: absent, null, blank or a number that restarts in every drop; its text or a bad line)
drop_records = st.tuples(
    st.sampled_from(["absent", None, "", "  ", 0, 1, 2]),
    st.integers(-1, len(BASE)),  # -1: a line that is not JSON; len(BASE): a text the filters reject
)


def write_drop(base: Path, number: int, records: list[tuple]) -> None:
    folder = base / "ore" / f"drop-{number:02d}"
    folder.mkdir(parents=True)
    lines = []
    for native, text in records:
        if text < 0:
            lines.append("{not json")
            continue
        record = {"body": [*BASE, "too short"][text]}
        if native != "absent":
            record["id"] = native
        lines.append(json.dumps(record))
    (folder / "posts.jsonl").write_text("\n".join(lines) + "\n")


def _texts(run: Run) -> dict[str, str]:
    return dict(run.refined.select("doc_id", "text").iter_rows())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drops=st.lists(st.lists(drop_records, min_size=1, max_size=6), min_size=2, max_size=4))
def test_append_mode_loses_and_renames_nothing_and_equals_a_run_from_scratch(drops):
    """Drops with missing, blank and restarting ids and the same texts again, each consumed and deleted: every
    record of every drop stays in exactly one place, no doc_id moves to another text, and the last version is the
    version one run over all the drops makes."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        run: Run | None = None
        for number, records in enumerate(drops):
            write_drop(base, number, records)
            previous, run = run, refine(base, base / f"run-{number}", run and run.reference, True, ID_SOURCE)
            shutil.rmtree(base / "ore" / f"drop-{number:02d}")
            assert run.expected == sum(len(d) for d in drops[: number + 1])  # every record so far, once
            if previous is not None:
                before, after = _texts(previous), _texts(run)
                assert before.items() <= after.items()  # nothing lost, nothing renamed
                assert set(previous.removed.get_column("doc_id")) <= set(run.removed.get_column("doc_id"))
        for number, records in enumerate(drops):
            write_drop(base, number, records)
        scratch = refine(base, base / "scratch", None, False, ID_SOURCE)
        assert _texts(run) == _texts(scratch)
        # the same records removed; the reason may differ (a copy of a document an earlier version filtered out
        # is filtered here, and a duplicate of it in one run from scratch)
        assert sorted(run.removed.get_column("doc_id")) == sorted(scratch.removed.get_column("doc_id"))
