"""One way for every stage to run its shards: share its inputs, map a step over the shards on the engine, gather
the parts they wrote, and hand the results back in shard order.

A step says what it does to one shard, `step(where, shard)`: it reads `where.inputs` and writes its parts through
`where.part(...)`; it never learns which engine ran it or how its files travelled (`refinery.runtime.exchange`).

A resumable stage keeps a completion marker per shard beside its parts (as datatrove's executors keep one per
rank): the shard's result, under a name that fingerprints the shard, the step and the stage's input files. When
the stage runs again over the same parts folder (the re-execution of a killed run inherits its parent's parts),
the shards with a marker are not run again; any other change to the step, the shard or the inputs gives another
fingerprint, so a stale part is never reused. Markers go with the parts once the stage has joined them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from refinery.runtime.engine import Engine
from refinery.runtime.exchange import output

T = TypeVar("T")
R = TypeVar("R")
DONE = ".done"  # the markers' folder inside a stage's parts folder (hidden from the parts' globs)


@dataclass(frozen=True)
class Where:
    """What a shard is handed besides itself: where the stage's inputs are and where its parts go."""

    inputs: tuple[str, ...] = ()
    parts: str = ""

    def part(self, name: str) -> str:
        """The location of this stage's part `name` (a file name): written whole through `exchange.output`."""
        return f"{self.parts}/{name}"


def run_sharded(
    step: Callable[[Where, T], R],
    shards: Iterable[T],
    engine: Engine,
    *,
    inputs: Sequence[Path] = (),
    reads: Sequence[Path | str] = (),
    parts: Path | None = None,
    processes: bool = False,
    small: bool | None = None,
    resumable: bool = False,
) -> list[R]:
    """`step(where, shard)` for every shard, on `engine` (its processes when the step holds the GIL), results in
    shard order. `inputs` are shared with the shards (`where.inputs`); `reads` are files the shards fetch
    themselves (ore). `small` work (by default, when `shards` is a sequence: a single shard to run) runs in this
    process on the local engine; an iterator of shards (batches read as they go) says `small` itself. With
    `resumable`, shards (then a sequence of small, picklable values) that completed before over the same `parts`
    folder are not run again."""
    markers = _Markers(parts, step, [*inputs, *reads]) if resumable and parts is not None else None
    done = markers.load(shards) if markers else {}
    if small is None:
        small = len(shards) - len(done) < 2  # type: ignore[arg-type]
    with engine.exchange() as exchange:
        where = Where(tuple(exchange.share(p) for p in inputs), exchange.parts(parts) if parts else "")
        items = ((i, s) for i, s in enumerate(shards) if i not in done)
        results = {}
        for i, result in engine.map(_Numbered(step, where), items, processes=processes, small=small):
            results[i] = result
            if markers and not exchange.folder:  # the part is in place already: mark it at once
                markers.mark(shards[i], i, result)
        if parts is not None:
            exchange.gather(where.parts, parts)
        if markers and exchange.folder:  # the parts arrived only now
            for i, result in results.items():
                markers.mark(shards[i], i, result)
    return [done[i] if i in done else results[i] for i in range(len(done) + len(results))]


@dataclass(frozen=True)
class _Numbered:
    """The step as the engine maps it: over (index, shard), keeping the index with the result."""

    step: Callable
    where: Where

    def __call__(self, item: tuple[int, object]) -> tuple[int, object]:
        i, shard = item
        return i, self.step(self.where, shard)


class _Markers:
    """The completion markers of one stage's shards, in `<parts>/.done/`."""

    def __init__(self, parts: Path, step: Callable, inputs: Sequence[Path | str]) -> None:
        self.folder = parts / DONE
        self.folder.mkdir(parents=True, exist_ok=True)
        stats = [(str(p), *_stat(p)) for p in inputs]
        self.stage = _canonical((_name(step), stats))

    def _path(self, shard: object, i: int) -> Path:
        digest = hashlib.sha256(pickle.dumps((self.stage, _canonical(shard)))).hexdigest()[:24]
        return self.folder / f"{i:06d}-{digest}.pickle"

    def load(self, shards: Sequence) -> dict[int, object]:
        found = {}
        for i, shard in enumerate(shards):
            path = self._path(shard, i)
            if path.exists():
                found[i] = pickle.loads(path.read_bytes())
        return found

    def mark(self, shard: object, i: int, result: object) -> None:
        with output(str(self._path(shard, i))) as path:
            path.write_bytes(pickle.dumps(result))


def _canonical(value: object) -> object:
    """`value` as nested tuples of plain values, the same in every process (sets and models pickle in an order
    that changes with the process's hash seed)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return (type(value).__qualname__, _canonical(value.model_dump()))
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return tuple(sorted(map(repr, value)))
    if isinstance(value, list | tuple):
        return tuple(map(_canonical, value))
    if value is None or isinstance(value, str | int | float | bool | bytes):
        return value
    return repr(value)


def _name(step: Callable) -> object:
    """The step and what it was given (a partial's arguments): another configuration is another stage."""
    func = getattr(step, "func", step)
    bound = (getattr(step, "args", ()), getattr(step, "keywords", {}))
    return f"{func.__module__}.{func.__qualname__}", bound


def _stat(path: Path | str) -> tuple[int, int]:
    """A local file's size and modification time; an object's (or a missing file's) nothing, so its shards are
    fingerprinted by name alone (`refinery.storage`: object ore is not resumed, see `resumable`)."""
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return st.st_size, st.st_mtime_ns
