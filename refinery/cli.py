"""`refinery`: run a recipe through Dagster, and inspect, verify, diff, trace, pin and prune published versions."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from refinery.catalog import Catalog
from refinery.errors import RecipeError, RefineryError

console = Console(highlight=False, soft_wrap=True)


def _split(ref: str) -> tuple[str, str]:
    dataset, _, version = ref.partition("@")
    return dataset, version or "latest"


def cmd_run(args: argparse.Namespace) -> int:
    from refinery.defs.refine import recipe_definitions
    from refinery.defs.refine.staging import resume_point
    from refinery.instance import fail_dead_runs, run_tags
    from refinery.recipe import check_named_files, load_recipe, slug
    from refinery.runtime.tuning import Tuning
    from refinery.store.layout import latest

    recipe = load_recipe(args.recipe)  # a malformed recipe fails here, before anything runs
    check_named_files(recipe)  # as does a file it names that is missing or not what it should be
    Tuning.from_env()  # and so does a machine setting DuckDB cannot read
    job = recipe_definitions(recipe).resolve_job_def(f"refine_{slug(recipe.dataset)}")
    console.print(f"Refining [bold]{recipe.dataset}[/] from {len(recipe.sources)} sources ...")
    instance = _instance([recipe])
    for dead in fail_dead_runs(instance):
        console.print(
            f"[yellow]Run {dead} died before it finished (killed, out of memory, a lost node); marked failed. "
            "`refinery run --resume` goes on from its last finished step.[/]"
        )
    tags = {"refinery/recipe": str(Path(args.recipe).resolve()), **run_tags()}
    run_config: dict = {"loggers": {"console": {}, "steps": {}} if args.verbose else {"steps": {}}}
    if args.engine or args.ray_address or args.exchange:
        engine = {"kind": args.engine or "ray", "address": args.ray_address, "exchange": args.exchange}
        run_config["resources"] = {"engine": {"config": engine}}
    before = latest(recipe.output_dir / recipe.dataset)
    if recipe.drops:  # each new drop is ingested alone (a partition), then every drop is refined together
        result = _ingest_new_drops(recipe, instance, run_config, tags)
        if result is not None and not result.success:
            _report_failure(result, recipe, before)
            return 1
    if args.resume:  # a re-execution of the failed run: what it finished is loaded, not recomputed
        selection, checks, resumed = resume_point(job, instance)
        tags |= resumed
        again = [k.path[-1] for k in selection] + [f"{c.asset_key.path[-1]}:{c.name}" for c in sorted(checks, key=str)]
        console.print(f"Resuming run {resumed['dagster/parent_run_id']}: {', '.join(again)}")
        job = job.get_subset(asset_selection=set(selection), asset_check_selection=checks)
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False, tags=tags)
    if not result.success:
        _report_failure(result, recipe, before)
        return 1
    catalog = Catalog(recipe.output_dir)
    version = catalog.version(recipe.dataset)
    published = result.asset_materializations_for_node(f"{slug(recipe.dataset)}__published")
    created = published[-1].metadata["new_version"].value if published else True
    _print_summary(version.manifest, version.path)
    if recipe.remote_output:
        console.print(f"Uploaded to: {recipe.output_root}/{recipe.dataset}/{version.id}")
    if not created:
        console.print("[yellow]Ore, recipe and code unchanged: same content hash, so no new version was made.[/]")
    console.print(f"Dagster run {result.run_id} (see it with `make ui`)")
    return 0


def _instance(recipes: list):
    """The instance a command works on, after saying when its settings are not the project's; the recipes' pools
    and drops registered in it (`automation.register`)."""
    from refinery.defs.refine.automation import register
    from refinery.defs.refine.graph import Graph
    from refinery.instance import config_drift, get_instance

    if drift := config_drift():
        console.print(f"[yellow]warning:[/] {escape(drift)}")
    instance = get_instance()
    for recipe in recipes:
        register(Graph(recipe), instance)
    return instance


def _ingest_new_drops(recipe, instance, run_config: dict, tags: dict):
    """Ingest the drops not ingested yet; the last run's result, or None
    when every drop was ingested already."""
    from refinery.defs.refine import recipe_definitions
    from refinery.defs.refine.automation import drops_to_run
    from refinery.defs.refine.graph import Graph

    graph = Graph(recipe)
    _, pending = drops_to_run(graph, instance)  # registered as partitions by `register`
    ingest = recipe_definitions(recipe).resolve_job_def(f"ingest_{graph.group}")
    result = None
    for drop in pending:
        console.print(f"Ingesting drop [bold]{escape(drop)}[/] ...")
        result = ingest.execute_in_process(
            run_config=run_config, instance=instance, partition_key=drop, raise_on_error=False, tags=tags
        )
        if not result.success:
            break
    return result


def _report_failure(result, recipe, before: str | None) -> None:
    """What failed, and whether a version was published before it did (LATEST read again, not assumed)."""
    from refinery.store.layout import latest

    now = latest(recipe.output_dir / recipe.dataset)
    outcome = "nothing was published, LATEST is unchanged" if now == before else f"after publishing: LATEST is {now}"
    console.print(f"[bold red]Run {result.run_id} failed; {outcome}.[/]")
    for event in result.all_events:
        check = event.event_specific_data if event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        if check is not None and not check.passed:
            console.print(f"[red]check {check.check_name} failed:[/] {escape(check.description or '')}")
        if event.event_type_value in ("STEP_FAILURE", "RESOURCE_INIT_FAILURE"):
            error = event.event_specific_data.error
            error = error.cause or error
            what = f"step {event.step_key}" if event.step_key else "resource set-up"
            console.print(f"[red]{what} failed:[/] {escape(error.message.strip())}")
    summary = (
        recipe.output_dir / ".staging" / recipe.dataset / result.run_id / "cleaned" / "validation" / "summary.json"
    )
    if summary.exists():
        data = json.loads(summary.read_text())
        for r in data["results"]:
            if not r["success"]:
                console.print(
                    f"[red]expectation failed[/] ({r['severity']}): {r['expectation']} on {r['column']}: "
                    f"{r['unexpected_count']} unexpected, e.g. {r['examples'][:3]}"
                )


def _print_summary(m: dict, path: Path) -> None:
    counts = m["counts"]
    table = Table(title=f"{m['dataset']}@{m['version']}")
    for col in ("stage", "reason", "records"):
        table.add_column(col)
    table.add_row("read", "", str(counts["read"]))
    for stage, reasons in counts["removed"].items():
        for reason, n in reasons.items():
            if reason != "total":
                table.add_row(stage, reason, str(n))
    table.add_row("[bold]refined[/]", "", f"[bold]{counts['refined']}[/]")
    console.print(table)
    console.print(
        f"AI-readiness: [bold]{m['readiness']['level']}[/]; validation "
        f"{'passed' if m['validation']['summary']['success'] else 'FAILED'} "
        f"({m['validation']['summary']['warnings']} warnings)"
    )
    console.print(f"Published version: {path}")


def cmd_versions(args: argparse.Namespace) -> int:
    catalog = Catalog(args.root)
    latest = catalog.version(args.dataset).id
    table = Table(title=args.dataset)
    for col in ("version", "refined", "readiness", "pinned", ""):
        table.add_column(col)
    for vid in catalog.versions(args.dataset):
        v = catalog.version(args.dataset, vid)
        table.add_row(
            vid,
            str(v.manifest["counts"]["refined"]),
            v.manifest["readiness"]["level"],
            "yes" if v.pinned else "",
            "LATEST" if vid == latest else "",
        )
    console.print(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    v = Catalog(args.root).version(*_split(args.ref))
    _print_summary(v.manifest, v.path)
    console.print(
        f"content hash {v.manifest['content_hash']}; parent {v.manifest['parent']}; "
        f"created {v.manifest['created_at']}; Dagster run {v.manifest['dagster_run_id']}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    v = Catalog(args.root).version(*_split(args.ref))
    v.verify()
    console.print(f"[green]OK[/] {v.dataset}@{v.id}: {len(v.manifest['files'])} files match their sha256")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    d = Catalog(args.root).diff(args.dataset, args.a, args.b)
    console.print(
        f"{d['a']} → {d['b']}: refined {d['refined'][0]} → {d['refined'][1]}; "
        f"{len(d['added'])} documents added, {len(d['removed'])} removed, {len(d['changed'])} changed"
    )
    for doc in d["added"][: args.limit]:
        console.print(f"  + {doc}")
    for doc in d["removed"][: args.limit]:
        console.print(f"  - {doc} ({d['why_removed'][doc]})")
    for doc in d["changed"][: args.limit]:
        console.print(f"  ~ {doc} (text changed)")
    for key, (a, b) in d["changed_counts"].items():
        console.print(f"  {key}: {a} → {b}")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    info = Catalog(args.root).lineage(args.dataset, args.doc_id, args.version)
    console.print_json(json.dumps(info, default=str))
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    v = Catalog(args.root).pin(*_split(args.ref))
    console.print(f"pinned {v.dataset}@{v.id}: prune will keep it")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    catalog = Catalog(args.root)
    keep = args.keep if args.keep is not None else catalog.version(args.dataset).manifest["recipe"]["publish"]["keep"]
    gone = catalog.prune(args.dataset, keep)
    console.print(f"removed {len(gone)} versions: {', '.join(gone) or 'none'}")
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    """The version's refined text against its ore (`--recipe`: the recipe that made it) or another version, as
    fuel for the same small model, on the evaluation text; the result is printed and kept beside the version."""
    import tempfile

    from refinery.ablation import ore_texts, save
    from refinery.clean.decontaminate import all_texts
    from refinery.lm import ablate
    from refinery.recipe import load_recipe

    catalog = Catalog(args.root)
    version = catalog.version(*_split(args.ref))
    refined = version.scan().select("text").collect().get_column("text")
    files = [Path(f) for f in args.eval]
    evaluation = all_texts(files, args.field)
    with tempfile.TemporaryDirectory(prefix="refinery-ablate-") as work:
        if args.against == "ore":
            if not args.recipe:
                raise RecipeError("--against ore reads the ore again: name the recipe that made the version (--recipe)")
            other, name = ore_texts(load_recipe(Path(args.recipe)), version, Path(work)), "ore"
        else:
            against = catalog.version(*_split(args.against))
            other, name = against.scan().select("text").collect().get_column("text"), f"{against.dataset}@{against.id}"
        result = ablate({"refined": refined, name: other}, evaluation, args.tokens, args.seeds)
    path = save(version, name.replace("@", "_"), result, files)
    for side, r in result["sides"].items():
        low, high = r["interval"]
        console.print(f"{side:<40} perplexity {r['mean']:10.2f}  95% interval {low:.2f}-{high:.2f}")
    apart = "intervals apart" if result["separated"] else "intervals overlap: no measured difference"
    console.print(
        f"best: {result['best']} ({apart}); {result['budget_tokens']:,} tokens a side, {args.seeds} seeds; saved {path}"
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """`dagster dev`: the webserver and the daemon (queued runs, schedules, sensors, retries) on the instance
    `refinery run` uses; Ctrl-C (or SIGTERM) stops both."""
    from refinery.instance import PROJECT_ROOT, recipe_paths
    from refinery.recipe import load_recipe

    recipes = []
    for path in recipe_paths():
        with contextlib.suppress(RefineryError):  # a broken recipe: the location shows the error
            recipes.append(load_recipe(path))
    _instance(recipes).dispose()
    os.chdir(PROJECT_ROOT)
    dagster = Path(sys.executable).parent / "dagster"
    os.execv(dagster, [str(dagster), "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refinery", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn, help: str, root: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(fn=fn)
        if root:
            sp.add_argument("--root", default="data/refined", help="publish root (default data/refined)")
        return sp

    run = add("run", cmd_run, "materialize the whole graph of a recipe in the local Dagster instance", root=False)
    run.add_argument("--recipe", required=True)
    run.add_argument("--verbose", action="store_true", help="Dagster's full log instead of one line per step")
    run.add_argument(
        "--resume",
        action="store_true",
        help="go on from the last finished step of the recipe's latest run, when it failed or was killed",
    )
    run.add_argument(
        "--engine", choices=["local", "ray"], help="where the shards run (default: REFINERY_ENGINE, else local)"
    )
    run.add_argument("--ray-address", help="a Ray cluster's head, host:port (default: start a local Ray)")
    run.add_argument(
        "--exchange",
        metavar="URI",
        help="with the Ray engine, a folder in object storage (s3://bucket/exchange) through which shards on machines "
        "that share no disk with this one get their inputs and leave their parts (default: REFINERY_EXCHANGE)",
    )
    add("versions", cmd_versions, "list the versions of a dataset").add_argument("dataset")
    add("show", cmd_show, "summary of a version's manifest").add_argument("ref", metavar="DATASET[@VERSION]")
    add("verify", cmd_verify, "re-hash a version's files against its manifest").add_argument(
        "ref", metavar="DATASET[@VERSION]"
    )
    d = add("diff", cmd_diff, "documents added and removed between two versions, and count changes")
    d.add_argument("dataset")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--limit", type=int, default=20, help="how many doc ids to list each way")
    lin = add("lineage", cmd_lineage, "where a record came from and what happened to it")
    lin.add_argument("dataset")
    lin.add_argument("doc_id")
    lin.add_argument("--version", default="latest")
    add("pin", cmd_pin, "keep a version forever (prune skips it)").add_argument("ref", metavar="DATASET@VERSION")
    pr = add("prune", cmd_prune, "delete old versions beyond publish.keep; pinned ones and LATEST stay")
    pr.add_argument("dataset")
    pr.add_argument("--keep", type=int, help="override the recipe's publish.keep")
    ab = add("ablate", cmd_ablate, "train the same small model on the version and on its ore or another version")
    ab.add_argument("ref", metavar="DATASET[@VERSION]")
    ab.add_argument("--against", required=True, metavar="ore|DATASET@VERSION")
    ab.add_argument("--eval", required=True, nargs="+", metavar="FILE", help="evaluation text (JSONL, Parquet, text)")
    ab.add_argument("--field", default="text", help="the text field of the evaluation files")
    ab.add_argument("--recipe", help="with --against ore: the recipe that made the version")
    ab.add_argument("--tokens", type=int, help="tokens a side (default: half the smaller side)")
    ab.add_argument("--seeds", type=int, default=3)
    ui = add("ui", cmd_ui, "the Dagster UI and daemon on this project's instance", root=False)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except RefineryError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}")  # verbatim: `[a-z0-9]` is not markup
        return 2
    except OSError as err:  # a read-only output, a full disk, a missing folder: what and where, not a traceback
        where = f": {err.filename}" if err.filename else ""
        console.print(f"[bold red]error:[/] {escape(err.strerror or type(err).__name__)}{escape(where)}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
