"""Resources: what differs between environments, not between recipes. Visible on each run's page in the UI."""

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import dagster as dg
from dagster_ray import RayResource

from refinery.defs.liveness import heartbeat
from refinery.runtime.engine import Engine, RayEngine
from refinery.runtime.tuning import Sizes, Tuning


class TuningResource(dg.ConfigurableResource):
    """How hard a run works on this machine; defaults from REFINERY_WORKERS (else the cores this process may
    use), REFINERY_DUCKDB_MEMORY (else 512MB) and REFINERY_SIZES (`name=count,...`: how stages cut their work,
    `refinery.runtime.tuning.Sizes`; none: the defaults)."""

    workers: int
    duckdb_memory: str
    sizes: str = ""

    @classmethod
    def from_env(cls) -> "TuningResource":
        tuning = Tuning.from_env()
        return cls(
            workers=tuning.workers, duckdb_memory=tuning.duckdb_memory, sizes=os.environ.get("REFINERY_SIZES", "")
        )

    def tuning(self) -> Tuning:
        return Tuning(self.workers, self.duckdb_memory, Sizes.parse(self.sizes))


def token_auth() -> None:
    """Connect with Ray's token authentication when this machine has a token (`RAY_AUTH_TOKEN`,
    `RAY_AUTH_TOKEN_PATH`, or `~/.ray/auth_token` as `ray get-auth-token --generate` writes it): a cluster started
    with `ray start` and a token refuses a driver whose `RAY_AUTH_MODE` is unset, and Ray turns token mode on by
    itself only for a local cluster found without an address. A mode set explicitly stays."""
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


class EngineResource(dg.ConfigurableResource):
    """Where the stages' shards run: `local` (this machine's cores) or `ray`, a cluster reached through
    dagster-ray at `address` ("host:port" of its head, "ray://host:10001", or "auto"), or a Ray started for the
    step when there is none. `exchange` (Ray only: local workers share this machine's disk) is a folder URI through
    which shards on machines that share no disk with the run's get their inputs and leave their parts (none:
    every node sees the run's staging folder). Defaults from REFINERY_ENGINE, REFINERY_RAY_ADDRESS and
    REFINERY_EXCHANGE; set per run in the launchpad under `resources.engine.config` (these three settings only:
    dagster-ray's own are not the run's to choose)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    exchange: str | None = None

    @classmethod
    def from_env(cls) -> "EngineResource":
        return cls(
            kind=os.environ.get("REFINERY_ENGINE") or "local",  # type: ignore[arg-type]
            address=os.environ.get("REFINERY_RAY_ADDRESS") or None,
            exchange=os.environ.get("REFINERY_EXCHANGE") or None,
        )

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["EngineResource"]:
        """The run beats while it holds the engine (`refinery.defs.liveness`); on Ray, it also watches the head."""
        with heartbeat(context):
            if self.kind == "local":  # nothing to connect to
                yield self
                return
            token_auth()
            with RayCluster(address=self.address).yield_for_execution(context), watch_head(context, self.address):
                yield self

    def engine(self, tuning: Tuning) -> Engine:
        if self.kind == "ray":
            return RayEngine(exchange=self.exchange, sizes=tuning.sizes)
        return Engine(tuning.workers, tuning.sizes)


PROBE_SECONDS = 2.0  # how long the head may take to answer one probe
LOST_AFTER = 3  # probes in a row without an answer: the head is gone (Ray itself waits 60 s, then aborts)


@contextmanager
def watch_head(context: dg.InitResourceContext, address: str | None) -> Iterator[None]:
    """While the run uses the cluster, probe its head (GCS) in a thread. When it stops answering, end the run at
    once: marked failed in the instance with a refinery failure line, the process exited. Without this the driver
    died a minute later with Ray's log only, and the run stayed STARTED."""
    import ray
    from ray._private.worker import global_worker

    gcs, stop = global_worker.gcs_client, threading.Event()

    def lost() -> None:
        message = (
            f"refinery: lost the Ray cluster ({address or 'a local Ray'}): its head has not answered for "
            f"{LOST_AFTER * PROBE_SECONDS:.0f} s. Run {context.run_id} is marked failed; `refinery run --resume` "
            "goes on from its last finished step once the cluster is back."
        )
        print(message, file=sys.stderr, flush=True)
        if context.dagster_run is not None:
            context.instance.report_run_failed(context.dagster_run, message=message)
        os._exit(1)

    def probe() -> None:
        silent = 0
        while not stop.wait(PROBE_SECONDS):
            try:
                gcs.internal_kv_exists(b"refinery", namespace=None, timeout=PROBE_SECONDS)
                silent = 0
            except ray.exceptions.RpcError:
                silent += 1
                if silent >= LOST_AFTER and not stop.is_set():
                    lost()

    threading.Thread(target=probe, name="refinery-head-watch", daemon=True).start()
    try:
        yield
    finally:
        stop.set()  # the thread ends at its next probe; the run does not wait for it


class RayCluster(RayResource):
    """dagster-ray's connection to the cluster at `address` (a Ray started for the step when None)."""

    address: str | None = None

    @property
    def host(self) -> str:
        return (self.address or "127.0.0.1").removeprefix("ray://").rsplit(":", 1)[0]

    @property
    def name(self) -> str:
        return f"Ray at {self.address}" if self.address else "a local Ray"

    @property
    def ray_address(self) -> str | None:  # type: ignore[override]
        return self.address

    @property
    def created(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True
