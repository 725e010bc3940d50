"""A run whose driver vanished (its machine lost, its process killed) is marked failed, from any machine.

While a run executes, its driver stamps the time on the run (the tag `refinery/alive_at`) every
`REFINERY_HEARTBEAT_SECONDS` (default 15). The `refinery_lost_runs` sensor, in the daemon, marks a started run
whose stamp is older than `LOST_AFTER` beats as failed with a refinery line, so the run-failure alert goes out
and `refinery run --resume` can pick the run up; without it, the run stayed STARTED for good. (`refinery run`
also marks its own host's dead runs at its start: `refinery.instance.fail_dead_runs`.)
"""

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

ALIVE_AT = "refinery/alive_at"
LOST_AFTER = 4  # beats in a row that did not come


def beat_seconds() -> float:
    return float(os.environ.get("REFINERY_HEARTBEAT_SECONDS") or 15)


@contextmanager
def heartbeat(context: dg.InitResourceContext) -> Iterator[None]:
    """Stamp the run as alive now and every beat until the block ends (in a thread: a busy step beats too)."""
    run, stop = context.dagster_run, threading.Event()
    if run is None:  # a resource built outside a run
        yield
        return

    def stamp() -> None:
        context.instance.add_run_tags(run.run_id, {ALIVE_AT: f"{time.time():.3f}"})

    def beat() -> None:
        while not stop.wait(beat_seconds()):
            stamp()

    stamp()
    threading.Thread(target=beat, name="refinery-heartbeat", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def lost_runs(instance: dg.DagsterInstance, now: float | None = None) -> list[str]:
    """Mark started runs whose driver stopped beating as failed; their ids."""
    now = time.time() if now is None else now
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    lost = []
    for run in runs:
        stamp = run.tags.get(ALIVE_AT)
        if stamp is None or now - float(stamp) <= LOST_AFTER * beat_seconds():
            continue
        host = run.tags.get("refinery/host")
        instance.report_run_failed(
            run,
            message=(
                f"refinery: lost run {run.run_id}: its driver{f' on {host}' if host else ''} has not reported for "
                f"{now - float(stamp):.0f} s (its machine or process is gone). Marked failed; `refinery run "
                "--resume` goes on from its last finished step."
            ),
        )
        lost.append(run.run_id)
    return lost


@dg.sensor(
    name="refinery_lost_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Marks runs whose driver stopped beating (machine or process lost) as failed, so they alert.",
)
def lost_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    lost = lost_runs(context.instance)
    return dg.SkipReason(f"marked lost: {', '.join(lost)}" if lost else "every started run is beating")
