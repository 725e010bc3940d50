"""Failed runs are not missed: a run-failure sensor sends each failure of any recipe's job to the alert target
configured for the environment (`REFINERY_ALERT`): an `http(s)://` webhook (POSTed JSON with a `text` line, as
Slack and Teams accept), a file (one JSON line per failure), or, unset, the sensor's log only."""

import json
import os
import urllib.request
from pathlib import Path

import dagster as dg

ALERT_ENV = "REFINERY_ALERT"


class AlertResource(dg.ConfigurableResource):
    """Where failures go; from REFINERY_ALERT (a webhook URL or a file path; unset: the log only)."""

    target: str | None = None

    @classmethod
    def from_env(cls) -> "AlertResource":
        return cls(target=os.environ.get(ALERT_ENV) or None)

    def send(self, alert: dict) -> str:
        """Deliver one alert; returns where it went."""
        if not self.target:
            return "the sensor's log"
        if self.target.startswith(("http://", "https://")):
            body = json.dumps(alert).encode()
            request = urllib.request.Request(self.target, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10):
                return self.target
        with Path(self.target).expanduser().open("a", encoding="utf-8") as out:
            out.write(json.dumps(alert) + "\n")
        return self.target


def failure_alert(run: dg.DagsterRun, run_message: str, steps: dict[str, str]) -> dict:
    """What an operator needs to act: which dataset and job, which run, and each failed step's error."""
    keys = sorted(run.asset_selection or [])  # "Materialize all" runs carry no job tags
    dataset = run.tags.get("refinery/dataset") or (keys[0].path[0] if keys else "?")
    first = next(iter(steps.values()), run_message).strip().splitlines()
    return {
        "text": f"refinery: {run.job_name} failed (dataset {dataset}, run {run.run_id}): {first[0] if first else ''}",
        "dataset": dataset,
        "job": run.job_name,
        "run_id": run.run_id,
        "message": run_message,
        "steps": steps,
    }


@dg.run_failure_sensor(
    name="refinery_run_failures",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description=f"Sends every failed run of this location to ${ALERT_ENV} (webhook URL or file; unset: this log).",
)
def run_failures(context: dg.RunFailureSensorContext, alerts: AlertResource) -> None:
    steps = {
        e.step_key or "?": (e.step_failure_data.error.message if e.step_failure_data.error else "")
        for e in context.get_step_failure_events()
    }
    alert = failure_alert(context.dagster_run, context.failure_event.message or "", steps)
    where = alerts.send(alert)
    context.log.error(f"{alert['text']} (sent to {where})")


def alert_definitions() -> dg.Definitions:
    from refinery.defs.liveness import lost_run_sensor

    return dg.Definitions(sensors=[run_failures, lost_run_sensor], resources={"alerts": AlertResource.from_env()})
