"""A Dagster logger for the terminal: one line when a step starts and one when it ends (records, seconds, rate),
instead of Dagster's DEBUG log. `refinery run` uses it; `--verbose` brings the console log back."""

import logging
import time

import dagster as dg
from rich.console import Console


class StepLines(logging.Handler):
    def __init__(self, console: Console):
        super().__init__()
        self.console, self.started, self.rows = console, {}, {}

    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None or not event.is_step_event:
            return
        step, kind = event.step_key.replace("__", "/"), event.event_type_value
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            self.console.print(f"  [dim]…[/] {step}")
        elif kind == "ASSET_MATERIALIZATION":
            rows = event.event_specific_data.materialization.metadata.get("dagster/row_count")
            self.rows[step] = rows.value if rows is not None else None
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = time.monotonic() - self.started.get(step, time.monotonic())
            rows = self.rows.get(step)
            counted = f"{rows:>10,} records" if rows is not None else " " * 18
            rate = f" {rows / seconds:>10,.0f} records/s" if rows and seconds > 0 else ""
            mark = "[green]✓[/]" if kind == "STEP_SUCCESS" else "[red]✗[/]"
            self.console.print(f"  {mark} {step:<40} {counted} {seconds:6.1f} s{rate}")


@dg.logger(description="One line per step start and end, for the terminal")
def step_lines(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("refinery.steps")
    log.setLevel(logging.DEBUG)
    log.handlers = [StepLines(Console(highlight=False))]
    log.propagate = False
    return log


LOGGERS = {"console": dg.colored_console_logger, "steps": step_lines}
