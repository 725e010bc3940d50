"""The recipe: one typed model, validated once when loaded, then passed down to every stage.

A malformed recipe fails before anything runs, with a message naming the key and what was expected.
"""

from __future__ import annotations

import codecs
import fnmatch
import glob
import itertools
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from refinery.clean.registry import BOUNDS
from refinery.errors import RecipeError
from refinery.hashing import recipe_hash
from refinery.storage import Ore, glob_uri, is_uri

Format = Literal["jsonl", "csv", "parquet", "text", "html"]
PiiKind = Literal["email", "phone", "ip", "card", "national_id"]
Flag = StrictBool  # `exact: 'no'` is an error, not a false


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently switch a step off."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)
    format: Format
    path: str
    text_field: str = "text"
    id_field: str | None = None
    html_field: str | None = None  # records whose text is HTML: main content is extracted
    title_field: str | None = None
    url_field: str | None = None
    license: str | None = None
    encoding: str | None = None  # for legacy files without a byte-order mark, e.g. latin-1 or cp1252
    coerce_text: Flag = False  # a number, boolean, list or object as text: its JSON form (else `not_text`)
    follow_symlinks: Flag = False  # ore files that are symlinks out of the ore roots are read (else refused)

    @field_validator("path")
    @classmethod
    def _local_as_path(cls, path: str) -> str:
        if path.lower().startswith("file:"):
            raise ValueError("a file: URI names local files; write the path itself, so that ore_roots apply")
        return path

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                codecs.lookup(name)
            except LookupError:
                raise ValueError(f"unknown encoding {name!r}") from None
        return name

    def folder(self, base: Path) -> Path:
        """The fixed part of the glob: the folder every file of this source lies under."""
        return fixed_folder(self.path, base)

    def could_match_under(self, folder: Path, base: Path) -> bool:
        """Whether files under `folder` could match this source's glob (a run would read its own output)."""
        if not folder.is_relative_to(self.folder(base)):
            return False
        if "**" in self.path:
            return True
        pattern = Path(self.path) if Path(self.path).is_absolute() else base.resolve() / self.path
        dirs, inner = pattern.parts[:-1], folder.parts
        return len(inner) <= len(dirs) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(inner, dirs, strict=False))

    @property
    def remote(self) -> bool:
        """Whether the ore is objects named by a URI (`s3://bucket/*.jsonl`): no local folder or roots apply."""
        return is_uri(self.path)

    def files(self, base: Path, roots: list[Path] | None = None) -> list[Ore]:
        """The ore files this source names, sorted so that runs are deterministic. A file that resolves outside
        the ore roots (a symlink out, say) is refused unless the source says `follow_symlinks: true`."""
        if self.remote:
            try:
                return glob_uri(self.path)
            except Exception as err:  # whatever the filesystem's library raises (no bucket, no credentials, ...)
                problem = f"{type(err).__name__}: {err}"
                raise RecipeError(f"source {self.name!r}: cannot list {self.path}: {problem}") from None
        pattern = self.path if Path(self.path).is_absolute() else str(base / self.path)
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        return self.inside(roots or [base.resolve()], files)

    def inside(self, roots: list[Path], files: list[Path]) -> list[Path]:
        """`files`, or RecipeError naming one that resolves outside `roots` (unless `follow_symlinks`)."""
        if not self.follow_symlinks:
            for f in files:
                if not any(f.resolve().is_relative_to(root) for root in roots):
                    raise RecipeError(
                        f"source {self.name!r}: {f} resolves to {f.resolve()}, outside the ore roots "
                        f"({', '.join(map(str, roots))}); set follow_symlinks: true on the source to read it"
                    )
        return files


def fixed_folder(pattern: str, base: Path) -> Path:
    """The folder a glob's matches all lie under: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), parts[:-1]))
    return (base / Path(*fixed) if fixed else base).resolve()


class NearDedup(Strict):
    enabled: Flag = True
    # chosen on real forum posts (benchmarks/dedup_real.py): 0.7 and word 3-grams reach F1 0.987 at precision 0.995
    # where 0.8 and 5-grams reach 0.942 (short posts lose too many 5-grams to a few edits); same speed
    threshold: float = Field(0.7, gt=0, lt=1)
    num_perm: int = Field(128, ge=16, le=1024)
    ngram: int = Field(3, ge=1, le=32)
    seed: int = 1
    verify: Flag = True  # exact Jaccard of candidate pairs, to cut LSH false positives
    keep: Literal["longest", "first"] = "longest"
    # datasketch's (false positive, false negative) weights for choosing bands x rows; by default recall-leaning
    # when verification removes the false positives, balanced otherwise
    weights: tuple[float, float] | None = None

    @property
    def lsh_weights(self) -> tuple[float, float]:
        return self.weights or ((0.1, 0.9) if self.verify else (0.5, 0.5))


class Dedup(Strict):
    exact: Flag = True
    near: NearDedup = NearDedup()
    against_previous: Flag = True  # dedup new ore against the previous published version


class Normalize(Strict):
    fix_text: Flag = True  # ftfy: mojibake, HTML entities, curly quotes left alone
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    strip_control: Flag = True
    whitespace: Flag = True


Filters = create_model(
    "Filters",
    __base__=Strict,
    __doc__="Quality filters; null switches one off. Bounds, defaults and sources: refinery/clean/registry.py.",
    **{b.key: (b.kind | None, b.default) for b in BOUNDS},
    lorem_ipsum=(Flag, True),  # C4's rule
    curly_bracket=(Flag, False),  # C4's rule; off: on real forum posts it removes good technical answers
    languages=(list[str] | None, None),
)


class Structure(Strict):
    """Forum and mail structure stripped before language ID, PII and the filters (see refinery/clean/structure.py).
    Off by default: on real Usenet posts it halves curly_bracket and cuts min_language_score removals, but the
    stripped replies are short, so min_words: 50 then removes a quarter of them (benchmarks/filters_real.py)."""

    headers: Flag = False  # a leading block of `Name: value` mail/Usenet header lines
    quotes: Flag = False  # `>`-quoted lines and the "In article ..., X writes:" attributions
    signature: Flag = False  # everything after a `-- ` line


class Clean(Strict):
    structure: Structure = Structure()
    normalize: Normalize = Normalize()
    pii: list[PiiKind] = ["email", "phone", "ip"]
    pii_tokens: dict[PiiKind, str] = {}
    filters: Filters = Filters()


class Expectation(Strict):
    expectation: str
    kwargs: dict = {}
    severity: Literal["error", "warn"] = "error"


class Validate(Strict):
    expectations: list[Expectation] = []


class Publish(Strict):
    keep: int = Field(10, ge=1)
    # snapshot: a version is the refined dataset of the ore present when it ran; documents whose ore is gone leave.
    # append: ore arrives in drops and is deleted after use; the previous version's documents are carried forward.
    mode: Literal["snapshot", "append"] = "snapshot"
    min_refined: int = Field(1, ge=0)  # the gate refuses a version with fewer refined documents
    max_drop: float | None = Field(0.5, ge=0, le=1)  # ... or one that lost more than this share of its parent's
    shared: Flag = False  # true in every recipe that publishes this dataset to this output: they take turns at LATEST


class Automation(Strict):
    schedule: str | None = None  # cron string: a Dagster schedule refines on it, running by default
    on_new_ore: Flag = False  # the ore sensor refines every change of the ore (added, edited, deleted files)
    observe_every: int = Field(300, ge=5)  # seconds between the ore sensor's observations (stale assets in the UI)


class Recipe(Strict):
    dataset: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=100)  # a folder, with room for versions
    output: str = "data/refined"
    description: str = ""
    automation: Automation = Automation()
    sources: list[Source] = Field(min_length=1)
    dedup: Dedup = Dedup()
    clean: Clean = Clean()
    validate_: Validate = Field(Validate(), alias="validate")
    publish: Publish = Publish()
    ore_roots: list[str] = ["."]  # folders ore may come from, relative to the recipe's folder or absolute
    # a glob of drop folders (or files), each ingested once as a partition; source paths are then globs
    # inside each drop folder (for drop files: patterns their names must match)
    drops: str | None = None
    base_dir: Path = Field(Path("."), exclude=True)
    origin: str | None = Field(None, exclude=True)  # the recipe file, when loaded from one

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {dupes}")
        return sources

    @model_validator(mode="after")
    def _fields_fit_formats(self) -> Recipe:
        for s in self.sources:
            if s.format in ("text", "html") and (s.id_field or s.html_field):
                raise ValueError(f"source {s.name!r}: id_field/html_field apply to jsonl, csv and parquet only")
            if s.remote and self.drops is not None:
                raise ValueError(f"source {s.name!r}: drops are local folders; a source with drops has a local glob")
        return self

    @property
    def roots(self) -> list[Path]:
        return [(self.base_dir / r).resolve() for r in self.ore_roots]

    def drop_paths(self) -> dict[str, Path]:
        """The drops present now, by partition key: the drop's path under the drops glob's folder."""
        if self.drops is None:
            return {}
        folder = fixed_folder(self.drops, self.base_dir)
        pattern = self.drops if Path(self.drops).is_absolute() else str(self.base_dir / self.drops)
        found = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
        return {p.resolve().relative_to(folder).as_posix(): p for p in found}

    def files(self, source: Source, drop: str | None = None) -> list[Ore]:
        """The source's ore files; with drops, those of one drop (`drop`) or of every drop present."""
        if self.drops is None:
            return source.files(self.base_dir, self.roots)
        files: list[Ore] = []
        for key, path in self.drop_paths().items():
            if drop not in (None, key):
                continue
            if path.is_dir():
                files += source.files(path, self.roots)
            elif path.is_file() and fnmatch.fnmatchcase(path.name, Path(source.path).name):  # not a FIFO
                files += source.inside(roots=self.roots, files=[path])
        return files

    @property
    def builds_on_previous(self) -> bool:
        """Whether a run's data depends on LATEST (deduplicated against it, or appended to it), so it may only be
        published on top of the version it was built on."""
        return self.dedup.against_previous or self.publish.mode == "append"

    @property
    def remote_output(self) -> bool:
        """Whether versions are published to objects named by a URI (`s3://bucket/refined`)."""
        return is_uri(self.output)

    @property
    def output_dir(self) -> Path:
        """Where versions are assembled and committed on this machine: the output folder, or, for an output URI,
        a local folder beside the recipe from which each committed version is uploaded."""
        if self.remote_output:
            return (self.base_dir / ".refinery-publish").resolve()
        out = Path(self.output)
        return out if out.is_absolute() else (self.base_dir / out).resolve()

    @property
    def output_root(self) -> str | Path:
        """Where readers find the published versions."""
        return self.output if self.remote_output else self.output_dir

    def resolved(self) -> dict:
        """The recipe as it will run, defaults filled in: what the manifest records and hashes."""
        return self.model_dump(mode="json", by_alias=True)

    @property
    def hash(self) -> str:
        return recipe_hash(self.resolved())


def _key(loc: tuple) -> str:
    key = ""
    for item in loc:
        if isinstance(item, int):
            key += f"[{item}]"
        else:
            key += ("." if key else "") + ("validate" if item == "validate_" else str(item))
    return key or "<root>"


def parse_recipe(data: object, base_dir: Path, origin: str = "<recipe>") -> Recipe:
    """Validate raw recipe data; every problem is reported with its key."""
    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate({**data, "base_dir": base_dir})
    except ValidationError as err:
        lines = [f"{origin}: invalid recipe"]
        for e in err.errors():
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(f"  {_key(e['loc'])}: {msg}")
        raise RecipeError("\n".join(lines)) from None
    _check_places(recipe, origin)
    from refinery.validate.expectations import check_declared  # GX is imported only here, lazily

    for i, exp in enumerate(recipe.validate_.expectations):
        problem = check_declared(exp.expectation, exp.kwargs)
        if problem:
            raise RecipeError(f"{origin}: validate.expectations[{i}].{problem}")
    return recipe


def _check_local_source(recipe: Recipe, i: int, source: Source, origin: str) -> None:
    """A local source's folder lies inside the ore roots and apart from the output."""
    folder, out = source.folder(recipe.base_dir), recipe.output_dir
    if not any(folder.is_relative_to(root) for root in recipe.roots):
        raise RecipeError(
            f"{origin}: sources[{i}].path: {source.path!r} lies outside the ore roots "
            f"({', '.join(recipe.ore_roots)}); declare its folder in ore_roots"
        )
    if folder.is_relative_to(out) or source.could_match_under(out, recipe.base_dir):
        raise RecipeError(
            f"{origin}: output: {out} overlaps the ore of sources[{i}] ({folder}): a run would read its own output"
        )


def _check_places(recipe: Recipe, origin: str) -> None:
    """Ore inside the declared roots, files that exist, an output that is a folder apart from every source."""
    out = recipe.output_dir
    if out.exists() and not out.is_dir():
        raise RecipeError(f"{origin}: output: {out} exists and is not a folder")
    if recipe.drops is not None:
        folder = fixed_folder(recipe.drops, recipe.base_dir)
        if not any(folder.is_relative_to(root) for root in recipe.roots):
            raise RecipeError(f"{origin}: drops: {recipe.drops!r} lies outside the ore roots; declare it in ore_roots")
        if folder.is_relative_to(out) or out.is_relative_to(folder):
            raise RecipeError(f"{origin}: output: {out} overlaps the drops folder {folder}")
    for i, source in enumerate(recipe.sources if recipe.drops is None else []):  # drops may all arrive later
        if not source.remote:
            _check_local_source(recipe, i, source, origin)
        try:
            found = recipe.files(source)
        except RecipeError as err:
            raise RecipeError(f"{origin}: sources[{i}].path: {err}") from None
        if not found:
            raise RecipeError(f"{origin}: sources[{i}].path: no files match {source.path!r} (from {recipe.base_dir})")
    if (cron := recipe.automation.schedule) is not None:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(cron):
            raise RecipeError(f"{origin}: automation.schedule: {cron!r} is not a valid cron string")


MAX_RECIPE_BYTES = 1 << 20


class _RecipeLoader(yaml.SafeLoader):
    """YAML without aliases (a 663-byte alias bomb expands past 4 GB) and without silently repeated keys."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, f"aliases (*{event.anchor}) are not allowed in recipes", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: a recipe may not exceed {MAX_RECIPE_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise RecipeError(f"{path}: a recipe must be UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        data = yaml.load(text, Loader=_RecipeLoader)
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from None
    return parse_recipe(data, path.parent.resolve(), str(path)).model_copy(update={"origin": str(path.resolve())})


def slug(name: str) -> str:
    """A name usable as a Dagster asset-key component or job name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
