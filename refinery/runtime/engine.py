"""Where a stage's shards run: on this machine (threads or processes), or as tasks on a Ray cluster.

A stage hands `Engine.map` a pure function and its shards (batches of rows); results come back in shard order
whatever ran them, so a stage's output does not depend on the engine. At most two shards per worker are in
flight: memory stays bounded. A stage whose working set grows with the corpus runs `isolated`: in a process of
its own, so what its allocators keep afterwards (DuckDB's buffers, native arenas) leaves with that process
instead of staying with the run.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

import polars as pl

from refinery.runtime.exchange import Exchange
from refinery.runtime.tuning import Sizes

T = TypeVar("T")
R = TypeVar("R")
TASK_RETRIES = 3  # a shard whose worker or node dies is run again, elsewhere if need be
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


class Engine:
    """The local engine: `workers` threads for work that releases the GIL (compiled kernels), or processes for
    work that holds it (`processes=True`); a single worker runs shards in this process. `sizes` say how the
    stages it runs cut their work."""

    name = "local"

    def __init__(self, workers: int = 1, sizes: Sizes | None = None) -> None:
        self.workers = max(workers, 1)
        self.sizes = sizes or Sizes()
        self.tasks: Counter[str] = Counter()  # shards run, by node

    def exchange(self) -> Exchange:
        """How one stage's shards reach its files (`refinery.runtime.exchange`): here, in place, since this machine's
        workers share its disk."""
        return Exchange()

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, processes: bool = False, small: bool = False
    ) -> Iterator[R]:
        """`fn` over `items`, results in the order of `items`. `small` work runs in this process here, where
        starting workers would cost more than they save."""
        items = self._counted(items)
        if self.workers == 1 or small:
            yield from map(fn, items)
            return
        pool: Executor = _processes(self.workers) if processes else ThreadPoolExecutor(self.workers)
        with pool:
            yield from _in_order((pool.submit(fn, item) for item in items), 2 * self.workers, Future.result)

    def isolated(self, call: Callable[[Engine], R], *, small: bool = False) -> R:
        """`call(engine)` in a fresh process that ends with it (`small` work: in this one); the shards it maps
        are counted here."""
        if small:
            return call(self)
        with _processes(1) as pool:
            value, ran = pool.submit(_isolated, call, self).result()
        self._add(ran)
        return value

    def _add(self, other: Engine) -> None:
        """Count what a copy of this engine ran elsewhere."""
        self.tasks.update(other.tasks)

    def _counted(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            self.tasks["local"] += 1
            yield item

    def evidence(self) -> dict[str, Any]:
        """What ran the shards, for the manifest."""
        return {"engine": self.name, "nodes": sorted(self.tasks), "tasks": sum(self.tasks.values())}


class RayEngine(Engine):
    """Shards as Ray tasks on the cluster this process is connected to (dagster-ray's resource connects it), or
    on `address`, or on a Ray started for this process. Tasks whose worker or node dies are retried."""

    name = "ray"

    def __init__(self, address: str | None = None, exchange: str | None = None, sizes: Sizes | None = None) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False)
        super().__init__(max(int(ray.cluster_resources().get("CPU", 1)), 1), sizes)
        self.home = ray.get_runtime_context().get_node_id()  # the node whose disk holds the run's staging
        self.moved = 0  # Polars' estimated size of the frames sent to tasks and returned (an estimate, not measured)
        self.exchange_root = exchange  # a URI when the nodes share no disk with this one
        self.exchanged = 0  # bytes sent to it and brought back from it

    def exchange(self) -> Exchange:
        """Through the exchange folder when the nodes share no disk (counted in the evidence), else in place."""
        return _Counted(self, self.exchange_root)

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, processes: bool = False, small: bool = False
    ) -> Iterator[R]:
        """Every shard is a task, small or not: the cluster is where the work was sent."""
        import ray

        task = ray.remote(_on_node).options(max_retries=TASK_RETRIES)
        shared = ray.put(fn)  # the function and what it closes over travel once, not with every shard

        def submit(item: T) -> Any:
            self.moved += _frame_bytes(item)
            return task.remote(shared, item)

        def result(ref: Any) -> R:
            value, node = ray.get(ref)
            self.tasks[node] += 1
            self.moved += _frame_bytes(value)
            return value

        yield from _in_order(map(submit, items), 2 * self.workers, result)

    def isolated(self, call: Callable[[Engine], R], *, small: bool = False) -> R:
        """`call(engine)` as a task of its own, small or not: retried like a shard, in a worker process that
        exits after it, mapping its shards as tasks in turn."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(max_calls=1, max_retries=TASK_RETRIES)(_isolated)
        if self.exchange_root:  # it reads and writes the run's staging: on the node whose disk that is
            task = task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(self.home, soft=False))
        value, ran = ray.get(task.remote(call, self))
        self._add(ran)
        return value

    def _add(self, other: Engine) -> None:
        super()._add(other)
        self.moved += getattr(other, "moved", 0)
        self.exchanged += getattr(other, "exchanged", 0)

    def evidence(self) -> dict[str, Any]:
        exchanged = {"bytes_exchanged": self.exchanged} if self.exchange_root else {}
        return {**super().evidence(), "bytes_moved": self.moved, **exchanged}


def _frame_bytes(value: Any) -> int:
    """The size of the Polars frames in a shard or a result: the data a task receives or sends back."""
    if isinstance(value, pl.DataFrame | pl.Series):
        return value.estimated_size()
    if isinstance(value, tuple | list):
        return sum(_frame_bytes(v) for v in value)
    return 0


def combined(evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """One stage's evidence from several runs of it (one per source or drop)."""
    merged = {
        "engine": "+".join(sorted({e["engine"] for e in evidence})),
        "nodes": sorted({node for e in evidence for node in e["nodes"]}),
        "tasks": sum(e["tasks"] for e in evidence),
    }
    for counter in ("bytes_moved", "bytes_exchanged"):
        if any(counter in e for e in evidence):
            merged[counter] = sum(e.get(counter, 0) for e in evidence)
    return merged


def _processes(workers: int) -> ProcessPoolExecutor:
    """Spawned workers (no forked threads) that end with this process, even when it is killed: a run that dies
    leaves no worker writing into its staging."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent)


def _die_with_parent() -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _isolated(call: Callable[[Engine], R], engine: Engine) -> tuple[R, Engine]:
    """Run in the isolated process or task: the value, and the engine's copy there with only what it ran."""
    engine.tasks = Counter()
    if isinstance(engine, RayEngine):
        engine.moved = engine.exchanged = 0
    return call(engine), engine


def _on_node(fn: Callable[[T], R], item: T) -> tuple[R, str]:
    import ray

    return fn(item), ray.get_runtime_context().get_node_id()[:12]


def _in_order(submitted: Iterable[Any], window: int, result: Callable[[Any], R]) -> Iterator[R]:
    pending: deque = deque()
    for handle in submitted:
        pending.append(handle)
        if len(pending) >= window:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


class _Counted(Exchange):
    """An exchange whose bytes are added to its engine's evidence when the stage is done with it."""

    def __init__(self, engine: RayEngine, root: str | None) -> None:
        super().__init__(root)
        self.engine = engine

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.engine.exchanged += self.moved
