"""Versions trainers can pin, verify, diff, load and trace back to ore."""

import json
import random
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import yaml

from refinery.catalog import Catalog
from refinery.cli import main
from refinery.errors import NotFoundError, PublishError, VerifyError
from refinery.store.lock import dataset_lock
from refinery_tests.conftest import small_recipe_data, write_small_ore, write_yaml


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Publish once, add a day's drop of ore (one new post, one copy of an old one), publish again: once for the
    module, on an instance of its own; every test gets a copy (`two_versions`)."""
    root = tmp_path_factory.mktemp("two-versions")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        small_ore = write_small_ore(root, random.Random(7))
        recipe_path = write_yaml(root, small_recipe_data())
        assert main(["run", "--recipe", str(recipe_path)]) == 0
        first = Catalog(root / "refined").version("small").scan()
        old_id = first.filter(pl.col("source") == "forums").select("source_id").head(1).collect().item()
        old_post = next(
            json.loads(line)
            for line in (small_ore / "forums" / "posts.jsonl").read_text().splitlines()
            if f'"post_id": "{old_id}"' in line
        )
        fresh = (
            "A brand new post about fixing the lawn mower with a borrowed spanner, which worked after an hour "
            "of careful work, and I would recommend it to anyone who has the same problem this spring."
        )
        drop = [{"post_id": "n1", "body": fresh}, {"post_id": "n2", "body": old_post["body"]}]
        (small_ore / "forums" / "posts-day2.jsonl").write_text("\n".join(json.dumps(p) for p in drop) + "\n")
        assert main(["run", "--recipe", str(recipe_path)]) == 0
    return root / "refined"


@pytest.fixture
def two_versions(built: Path, tmp_path: Path) -> Catalog:
    """The module's two versions, copied: a test may tamper with them, pin and prune."""
    shutil.copytree(built, tmp_path / "refined", symlinks=True)
    return Catalog(tmp_path / "refined")


def test_versions_are_listed_oldest_first_with_parent(two_versions):
    cat = two_versions
    first, second = cat.versions("small")
    assert cat.datasets() == ["small"]
    assert cat.version("small").id == second
    assert cat.version("small", second).manifest["parent"] == first
    with pytest.raises(NotFoundError):
        cat.version("small", "20990101T000000Z-deadbeef")
    with pytest.raises(NotFoundError):
        cat.versions("nope")


def test_incremental_drop_cannot_readmit_old_documents(two_versions):
    cat = two_versions
    first, second = cat.versions("small")
    diff = cat.diff("small", first, second)
    new_ids = cat.version("small").scan().filter(pl.col("source_id") == "n1").collect().get_column("doc_id")
    assert diff["added"] == new_ids.to_list() and diff["removed"] == []
    dup = cat.version("small").removed().filter(pl.col("source_id") == "n2").collect().row(0, named=True)
    assert dup["reason"] == "exact_duplicate" and dup["duplicate_of"] is not None
    assert diff["changed_counts"]["dedup/exact_duplicate"][1] == diff["changed_counts"]["dedup/exact_duplicate"][0] + 1


def test_verify_detects_tampering(two_versions):
    v = two_versions.version("small")
    v.verify()
    part = v.files[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(VerifyError, match=r"part-00000\.parquet: sha256 mismatch"):
        v.verify()
    assert main(["verify", f"small@{v.id}", "--root", str(two_versions.root)]) == 2


def test_lineage_of_refined_removed_and_quarantined_records(two_versions):
    cat = two_versions
    v = cat.version("small")
    removed = v.removed().collect()
    dup = removed.filter(pl.col("reason") == "exact_duplicate").row(0, named=True)
    kept = cat.lineage("small", dup["duplicate_of"])
    assert kept["outcome"] == "refined" and kept["source_uri"].startswith("ore/")
    assert dup["doc_id"] in [m["doc_id"] for m in kept["merged_duplicates"]]
    gone = cat.lineage("small", dup["doc_id"])
    assert (gone["outcome"], gone["stage"], gone["reason"]) == ("removed", "dedup", "exact_duplicate")
    bad = removed.filter(pl.col("stage") == "ingest").row(0, named=True)
    quarantined = cat.lineage("small", bad["doc_id"])
    assert quarantined["stages"] == ["ingest"] and quarantined["line"] == bad["line"]
    with pytest.raises(NotFoundError):
        cat.lineage("small", "no-such-doc")


def test_pin_and_prune(two_versions):
    cat = two_versions
    first, second = cat.versions("small")
    cat.pin("small", first)
    assert cat.prune("small", keep=1) == []
    cat.unpin("small", first)
    assert cat.prune("small", keep=1) == [first]
    assert cat.versions("small") == [second]


def test_loaders(two_versions):
    v = two_versions.version("small")
    rows = v.manifest["counts"]["refined"]
    assert v.scan().select(pl.len()).collect().item() == rows
    assert v.to_arrow().num_rows == rows
    con = duckdb.connect()
    view = v.to_duckdb(con)
    assert con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0] == rows
    batches = list(v.iter_batches(batch_size=16, columns=["doc_id", "text"]))
    assert sum(b.num_rows for b in batches) == rows and max(b.num_rows for b in batches) <= 16


def test_hf_datasets_map_one_arrow_copy_per_version_or_stream_the_parts(two_versions, tmp_path):
    """`to_hf()` is memory-mapped from Arrow files HF writes once per version (a second call writes nothing, and
    the dataset's cache files are those files); `to_hf(streaming=True)` reads the Parquet parts as they are."""
    v = two_versions.version("small")
    ids = v.scan().select("doc_id").collect().get_column("doc_id")
    hf = v.to_hf(cache_dir=tmp_path / "hf")
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "hf").rglob("*.arrow")}
    assert written and {Path(f["filename"]) for f in hf.cache_files} <= set(written)
    assert len(hf) == len(ids) and set(hf.column_names) >= {"doc_id", "text", "source"}
    assert sorted(hf["doc_id"]) == sorted(ids)
    assert v.to_hf(cache_dir=tmp_path / "hf")["doc_id"] == hf["doc_id"]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "hf").rglob("*.arrow")} == written
    assert [row["doc_id"] for row in v.to_hf(streaming=True)] == ids.to_list()


def test_a_second_publisher_waits_then_is_turned_away(tmp_path):
    with (
        dataset_lock(tmp_path / "ds"),
        pytest.raises(PublishError, match="another run has been publishing ds"),
        dataset_lock(tmp_path / "ds", timeout=0.5),
    ):
        pass


def test_reading_commands(two_versions, capsys):
    root = str(two_versions.root)
    first, second = two_versions.versions("small")
    assert main(["versions", "small", "--root", root]) == 0
    assert main(["show", "small", "--root", root]) == 0
    assert main(["verify", "small", "--root", root]) == 0
    assert main(["diff", "small", first, second, "--root", root]) == 0
    out = capsys.readouterr().out
    assert second in out and "1 documents added" in out
    assert main(["pin", f"small@{first}", "--root", root]) == 0
    assert main(["prune", "small", "--keep", "1", "--root", root]) == 0
    assert "removed 0 versions" in capsys.readouterr().out
    assert main(["show", "small@nope", "--root", root]) == 2


def _rewrite_manifest(v, change) -> None:
    manifest = json.loads((v.path / "manifest.json").read_text())
    change(manifest)
    (v.path / "manifest.json").write_text(json.dumps(manifest))


def test_verify_cannot_be_fooled_by_a_rewritten_manifest(two_versions):
    from refinery.hashing import sha256_file

    v = two_versions.version("small")
    part = v.files[0]
    pl.read_parquet(part).head(5).write_parquet(part)  # a forged part ...

    def cover(manifest):  # ... whose new checksum and size are written into the manifest
        entry = next(f for f in manifest["files"] if f["path"] == "part-00000.parquet")
        entry["sha256"], entry["bytes"] = sha256_file(part), part.stat().st_size

    _rewrite_manifest(v, cover)
    fresh = two_versions.version("small")
    with pytest.raises(VerifyError, match="content hash does not match"):
        fresh.verify()
    with pytest.raises(VerifyError):
        fresh.scan()
    with pytest.raises(VerifyError):
        fresh.to_arrow()  # every loader reads through the check
    assert fresh.scan(check=False).collect().height == 5  # an explicit opt-out still reads


def test_manifest_paths_outside_the_version_and_corrupt_manifests_are_refused(two_versions, capsys):
    v = two_versions.version("small")
    _rewrite_manifest(v, lambda m: m["files"][0].update(path="../../../evil.parquet"))
    with pytest.raises(VerifyError, match="outside the version"):
        two_versions.version("small").scan()
    _rewrite_manifest(v, lambda m: m["files"][0].update(path=5))
    with pytest.raises(VerifyError, match="outside the version"):
        two_versions.version("small").scan()
    (v.path / "manifest.json").write_text('{"files": [')
    with pytest.raises(VerifyError, match=r"manifest\.json is unreadable"):
        two_versions.version("small").verify()
    assert main(["verify", "small", "--root", str(two_versions.root)]) == 2
    assert "unreadable" in capsys.readouterr().out


def _evidence_line(report: dict, level: int, start: str) -> bool:
    (line,) = [e for e in report["levels"][level]["evidence"] if e["text"].startswith(start)]
    return line["holds"]


def test_readiness_evidence_is_measured_from_the_files_and_fails_when_they_are_broken(two_versions, tmp_path):
    """Each line of evidence breaks when the thing it measures is broken on disk: a row group dropped from a part
    (its rows no longer decode to the gate's count), a byte flipped in a file, the card edited, GX's own results
    showing a failure. The measurement reads the files in a fresh process."""
    import shutil

    import pyarrow.parquet as pq

    from refinery.publish.evidence import measure_elsewhere, read_datacard
    from refinery.publish.readiness import assess

    version = two_versions.version("small")
    m = version.manifest
    claims = {"files": m["files"], "recipe_hash": m["recipe_hash"], "source_sha256": m["code_version"]["source_sha256"]}

    def report(folder):
        measured = measure_elsewhere(folder, claims)
        return assess(m, {**measured, "datacard": read_datacard(folder / "DATACARD.md")})

    assert report(version.path)["level"] == m["readiness"]["level"] == "quality_assured"

    broken = tmp_path / "rows"
    shutil.copytree(version.path, broken)
    part = broken / next(f["path"] for f in m["files"] if f["kind"] == "refined")
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)  # one row lost
    lost = report(broken)
    assert not _evidence_line(lost, 0, f"{table.num_rows - 1} refined records decoded") and lost["level"] == "none"

    flipped = tmp_path / "byte"
    shutil.copytree(version.path, flipped)
    data = bytearray((flipped / part.relative_to(broken)).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (flipped / part.relative_to(broken)).write_bytes(bytes(data))
    hashed = report(flipped)
    assert not _evidence_line(hashed, 1, "every data file re-read") and hashed["level"] == "technically_usable"
    assert not _evidence_line(hashed, 1, "immutable version")  # the id no longer recomputes

    edited = tmp_path / "card"
    shutil.copytree(version.path, edited)
    card = edited / "DATACARD.md"
    card.write_text(card.read_text().replace(m["content_hash"], "0" * 64))
    assert not _evidence_line(report(edited), 1, "DATACARD.md, as written")

    failing = tmp_path / "gx"
    shutil.copytree(version.path, failing)
    results = failing / "validation" / "gx_results.json"
    raw = json.loads(results.read_text())
    first = next(r for v in raw for r in v["results"] if r["expectation_config"]["type"] == "expect_column_to_exist")
    first["success"] = False
    results.write_text(json.dumps(raw))
    assert not _evidence_line(report(failing), 2, "GX suite") and report(failing)["level"] == "convenient"

    unlicensed = {**m, "sources": [{**s, "license": None} if s["name"] == "export" else s for s in m["sources"]]}
    measured = {**measure_elsewhere(version.path, claims), "datacard": read_datacard(version.path / "DATACARD.md")}
    assert (
        _evidence_line(assess(unlicensed, measured), 2, "licences known for 1 of 2 sources (unknown: export)") is False
    )


def test_a_signed_manifest_catches_a_consistent_rewrite(small_recipe, write_recipe, dagster_home, monkeypatch):
    monkeypatch.setenv("REFINERY_SIGNING_KEY", "s3cret")
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    cat = Catalog(recipe_path.parent / "refined")
    cat.version("small").verify()
    v = cat.version("small")
    _rewrite_manifest(v, lambda m: m.update(created_at="2000-01-01T00:00:00+00:00"))  # hashes still add up
    with pytest.raises(VerifyError, match="manifest signature does not match"):
        cat.version("small").verify()
    monkeypatch.delenv("REFINERY_SIGNING_KEY")
    cat.version("small").verify()  # without the key, only the hash chain is checked


def _copies(catalog: Catalog, n: int) -> list[str]:
    """`n` more complete versions of the dataset, copied from the first under later ids (no run needed)."""
    import shutil

    first = catalog.versions("small")[0]
    names = [f"20990101T0000{i:02d}Z-copy{i:04d}" for i in range(n)]
    for name in names:
        shutil.copytree(catalog.root / "small" / first, catalog.root / "small" / name)
    return names


def _pin(root: str, ref: str) -> None:
    Catalog(root).pin(*ref.split("@"))


def test_pins_and_prune_under_the_lock_keep_0_and_a_read_only_output(two_versions, tmp_path, capsys):
    """On a read-only output, prune and pin are one-line errors (exit 2); 10 pins at once are all kept (they once
    kept 2); `prune --keep 0` keeps pinned versions and LATEST only; `to_duckdb` reads a path holding a quote."""
    import multiprocessing
    import shutil
    import subprocess

    names = _copies(two_versions, 10)
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    bound = subprocess.run(["mount", "--bind", str(two_versions.root), str(frozen)], capture_output=True)
    if bound.returncode:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(frozen)], check=True)
        assert main(["prune", "small", "--keep", "1", "--root", str(frozen)]) == 2
        assert main(["pin", f"small@{names[0]}", "--root", str(frozen)]) == 2
    finally:
        subprocess.run(["umount", "-l", str(frozen)])
    out = capsys.readouterr().out
    assert "Traceback" not in out and "Read-only file system" in out

    with multiprocessing.get_context("spawn").Pool(10) as pool:
        pool.starmap(_pin, [(str(two_versions.root), f"small@{n}") for n in names])
    assert all(two_versions.version("small", n).pinned for n in names)
    for n in names[5:]:
        two_versions.unpin("small", n)
    latest = two_versions.version("small").id
    assert main(["prune", "small", "--keep", "0", "--root", str(two_versions.root)]) == 0
    assert set(two_versions.versions("small")) == {*names[:5], latest}

    quoted = tmp_path / "trainer's copy"
    shutil.copytree(two_versions.root, quoted)
    con = duckdb.connect()
    view = Catalog(quoted).version("small").to_duckdb(con)
    rows = two_versions.version("small").scan().select(pl.len()).collect().item()
    assert con.execute(f'SELECT count(*) FROM "{view}"').fetchall() == [(rows,)]


def test_diff_reports_an_edited_post_and_why_documents_left(
    small_recipe, write_recipe, small_ore, dagster_home, capsys
):
    """A post edited under its native id keeps its doc_id: the diff says its text changed; a post whose ore line
    is gone says so."""
    recipe_path = write_recipe({**small_recipe, "publish": {"max_drop": None}})
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    catalog = Catalog(recipe_path.parent / "refined")
    first = catalog.version("small")
    kept = first.scan().filter(pl.col("source") == "forums").select("doc_id", "source_id").head(2).collect()
    (edit_id, edit_native), (gone_id, gone_native) = kept.rows()
    posts = small_ore / "forums" / "posts.jsonl"
    lines = []
    for line in posts.read_text().splitlines():
        if f'"post_id": "{gone_native}"' in line:
            continue
        if f'"post_id": "{edit_native}"' in line:
            post = json.loads(line)
            line = json.dumps({**post, "body": post["body"] + " Edited: the part arrived on Monday after all."})
        lines.append(line)
    posts.write_text("\n".join(lines) + "\n")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    d = catalog.diff("small", first.id, catalog.version("small").id)
    assert d["changed"] == [edit_id] and d["why_removed"] == {gone_id: "ore gone"}
    capsys.readouterr()
    assert main(["diff", "small", first.id, "latest", "--root", str(catalog.root)]) == 0
    out = capsys.readouterr().out
    assert f"~ {edit_id} (text changed)" in out and f"- {gone_id} (ore gone)" in out


def test_the_lineage_of_an_older_version_says_whether_its_ore_changed_since(small_recipe, write_recipe, dagster_home):
    """A record of the first version whose ore file was edited before the second run is flagged as changed, with
    the hash the latest version read; a record whose file was not touched is unchanged; in the latest, neither."""
    recipe_path = write_recipe(small_recipe)
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    export = recipe_path.parent / "ore" / "csv" / "export.csv"
    export.write_text(export.read_text() + 'c100,"A late ticket about the printer that jams on every second page."\n')
    first = Catalog(recipe_path.parent / "refined").version("small")
    assert main(["run", "--recipe", str(recipe_path)]) == 0
    cat = Catalog(recipe_path.parent / "refined")
    rows = first.scan().select("doc_id", "source_uri").collect()
    csv_doc = rows.filter(pl.col("source_uri") == "ore/csv/export.csv").get_column("doc_id")[0]
    post = rows.filter(pl.col("source_uri") == "ore/forums/posts.jsonl").get_column("doc_id")[0]
    changed = cat.lineage("small", csv_doc, first.id)["ore"]
    now = {o["path"]: o["sha256"] for o in cat.version("small").manifest["ore"]}
    assert changed["since"] == f"changed: the latest version read sha256 {now['ore/csv/export.csv']}"
    assert changed["sha256"] != now["ore/csv/export.csv"]
    assert cat.lineage("small", post, first.id)["ore"]["since"] == "unchanged"
    assert cat.lineage("small", post)["ore"]["since"] == "this is the latest version"


def test_a_mixture_of_pinned_versions_gives_each_rank_rows_in_exact_proportions(
    small_recipe, write_recipe, dagster_home, tmp_path
):
    """Two versions mixed 3:1 for 2 ranks: each rank takes exactly floor(n * w) rows of each part, n the largest
    total the parts allow; ranks never share a row; every row is its version's and says so; the order is seeded;
    the manifest names the versions by id and content hash. `latest` is refused: a mixture is pinned."""
    from refinery.errors import RecipeError
    from refinery.mixture import Mixture

    for name in ("alpha", "beta"):
        path = write_recipe({**small_recipe, "dataset": name}, f"{name}.yaml")
        assert main(["run", "--recipe", str(path)]) == 0
    cat = Catalog(tmp_path / "refined")
    alpha, beta = cat.version("alpha"), cat.version("beta")
    mix = tmp_path / "mix.yaml"
    parts = [{"version": f"alpha@{alpha.id}", "weight": 3}, {"version": f"beta@{beta.id}", "weight": 1}]
    mix.write_text(yaml.safe_dump({"root": "refined", "seed": 5, "parts": parts}))
    mixture = Mixture.load(mix)
    per_rank = min(alpha.manifest["counts"]["refined"] // 2 / 0.75, beta.manifest["counts"]["refined"] // 2 / 0.25)
    expected = [int(per_rank * 0.75), int(per_rank * 0.25)]
    seen: list[set] = []
    for rank in range(2):
        batches = list(mixture.loader(rank=rank, world_size=2, batch_size=16))
        rows = pl.concat(batches)
        assert all(b.height <= 16 for b in batches) and batches[0].get_column("mixture_part").n_unique() == 2
        assert not rows.select("mixture_part", "doc_id").is_duplicated().any()  # the two share ore: ids repeat
        counts = rows.group_by("mixture_part").len()
        assert dict(counts.iter_rows()) == {f"alpha@{alpha.id}": expected[0], f"beta@{beta.id}": expected[1]}
        for part, version in ((f"alpha@{alpha.id}", alpha), (f"beta@{beta.id}", beta)):
            ids = rows.filter(pl.col("mixture_part") == part).get_column("doc_id")
            assert ids.is_in(version.scan().select("doc_id").collect().get_column("doc_id")).all()
        seen.append(set(zip(rows.get_column("mixture_part"), rows.get_column("doc_id"), strict=True)))
        again = pl.concat(list(Mixture.load(mix).loader(rank=rank, world_size=2, batch_size=16)))
        assert again.equals(rows)
    assert not seen[0] & seen[1]
    manifest = mixture.manifest(world_size=2)
    assert [(p["version"], p["content_hash"], p["rows_per_rank"]) for p in manifest["parts"]] == [
        (f"alpha@{alpha.id}", alpha.manifest["content_hash"], expected[0]),
        (f"beta@{beta.id}", beta.manifest["content_hash"], expected[1]),
    ]
    mix.write_text(yaml.safe_dump({"root": "refined", "parts": [{"version": "alpha@latest", "weight": 1}]}))
    with pytest.raises(RecipeError, match="pins each version"):
        Mixture.load(mix)


def test_a_mixture_by_token_budgets_streams_exact_windows_of_each_part_and_repeats_a_small_one(
    small_recipe, write_recipe, dagster_home, tmp_path
):
    """Budgets in tokens, two ranks, windows of 32 tokens: each rank takes budget // 32 // 2 windows of each part;
    every window is an aligned window of its part's packed shard (read here with numpy, not through the mixture);
    the budgeted part that fits gives each window at most once across both ranks, the one over budget covers its
    whole shard and repeats it; `start` resumes exactly; another epoch is another order. Parts tokenized by two
    tokenizers are refused, and the document loader counts a budget at the part's mean document length."""
    from refinery.errors import RecipeError
    from refinery.mixture import Mixture

    publish = {"tokens": {"vocab_size": 512}, "tokenized": {"seed": 1}}
    assert main(["run", "--recipe", str(write_recipe({**small_recipe, "dataset": "alpha", "publish": publish}))]) == 0
    cat = Catalog(tmp_path / "refined")
    alpha = cat.version("alpha")
    shutil.copy(alpha.path / "tokenizer.json", tmp_path / "named.json")
    named = {**publish, "tokens": {"tokenizer": "named.json"}}
    beta_recipe = {**small_recipe, "dataset": "beta", "publish": named, "clean": {"filters": {"min_words": 60}}}
    assert main(["run", "--recipe", str(write_recipe(beta_recipe, "beta.yaml"))]) == 0
    beta = cat.version("beta")
    size, shard_tokens = 32, {}
    windows = {}  # part -> {window bytes: window index}
    for v in (alpha, beta):
        tokens = np.fromfile(v.path / "tokenized" / "000_all.ds", dtype=np.uint16).astype(np.int64)
        shard_tokens[v.dataset] = len(tokens)
        windows[f"{v.dataset}@{v.id}"] = {
            tokens[w * size : (w + 1) * size].tobytes(): w for w in range(len(tokens) // size)
        }
    budgets = {"alpha": shard_tokens["alpha"] // 2, "beta": shard_tokens["beta"] * 3 // 2}  # beta is too small
    mix = tmp_path / "mix.yaml"
    parts = [{"version": f"{v.dataset}@{v.id}", "tokens": budgets[v.dataset]} for v in (alpha, beta)]
    mix.write_text(yaml.safe_dump({"root": "refined", "seed": 3, "parts": parts}))
    mixture = Mixture.load(mix)

    taken: dict[str, list[int]] = {name: [] for name in windows}
    for rank in range(2):
        stream = list(mixture.sequences(size - 1, rank=rank, world_size=2))
        counts = {name: sum(s["mixture_part"] == name for s in stream) for name in windows}
        assert counts == {f"{v.dataset}@{v.id}": budgets[v.dataset] // size // 2 for v in (alpha, beta)}
        for s in stream:
            assert s["input_ids"].shape == (size,)
            taken[s["mixture_part"]].append(windows[s["mixture_part"]][s["input_ids"].tobytes()])
        assert [s["mixture_part"] for s in stream[:40]] != sorted(s["mixture_part"] for s in stream[:40])  # mixed
        resumed = list(mixture.sequences(size - 1, rank=rank, world_size=2, start=17))
        assert [s["input_ids"].tolist() for s in resumed] == [s["input_ids"].tolist() for s in stream[17:]]
        other = [s["input_ids"].tolist() for s in mixture.sequences(size - 1, rank=rank, world_size=2, epoch=1)]
        assert other != [s["input_ids"].tolist() for s in stream]
    alpha_taken, beta_taken = taken[f"alpha@{alpha.id}"], taken[f"beta@{beta.id}"]
    assert len(set(alpha_taken)) == len(alpha_taken)  # within its shard: no window twice
    assert set(beta_taken) == set(windows[f"beta@{beta.id}"].values()) and len(beta_taken) > len(set(beta_taken))
    manifest = mixture.manifest(world_size=2, seq_len=size - 1)
    assert [p["tokens_per_rank"] for p in manifest["parts"]] == [budgets[d] // size // 2 * size for d in budgets]

    half = {"alpha": budgets["alpha"], "beta": shard_tokens["beta"] // 2}
    parts = [{"version": f"{v.dataset}@{v.id}", "tokens": half[v.dataset]} for v in (alpha, beta)]
    mix.write_text(yaml.safe_dump({"root": "refined", "seed": 3, "parts": parts}))
    mixture, rows = Mixture.load(mix), {}
    for rank in range(2):
        frame = pl.concat(list(mixture.loader(rank=rank, world_size=2, columns=["doc_id", "n_tokens"])))
        rows[rank] = frame.group_by("mixture_part").agg(pl.len(), pl.col("n_tokens").sum())
    assert rows[0].sort("mixture_part")["len"].to_list() == rows[1].sort("mixture_part")["len"].to_list()
    alpha_tokens = sum(
        r.filter(pl.col("mixture_part") == f"alpha@{alpha.id}")["n_tokens"].item() for r in rows.values()
    )
    assert abs(alpha_tokens - budgets["alpha"]) < 0.15 * budgets["alpha"]  # the budget, counted in documents

    other_tokenizer = {**publish, "tokens": {"vocab_size": 600}}
    separate = write_recipe({**small_recipe, "dataset": "gamma", "publish": other_tokenizer}, "gamma.yaml")
    assert main(["run", "--recipe", str(separate)]) == 0
    gamma = cat.version("gamma")
    parts = [{"version": f"alpha@{alpha.id}", "weight": 1}, {"version": f"gamma@{gamma.id}", "weight": 1}]
    mix.write_text(yaml.safe_dump({"root": "refined", "parts": parts}))
    with pytest.raises(RecipeError, match="same tokenizer"):
        next(Mixture.load(mix).sequences(size - 1))
