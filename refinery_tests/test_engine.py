import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

RUN_AND_WAIT = """
import sys, time
from functools import partial
from refinery.runtime.engine import Engine
from refinery_tests.test_engine import write_pid_and_sleep

Engine(2).isolated(partial(write_pid_and_sleep, sys.argv[1]))
"""


def write_pid_and_sleep(path: str, engine) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


def test_an_isolated_stage_dies_with_its_run(tmp_path):
    """A run that is killed leaves no worker behind, writing into its staging."""
    pid_file = tmp_path / "child.pid"
    root = Path(__file__).resolve().parents[1]
    run = subprocess.Popen([sys.executable, "-c", RUN_AND_WAIT, str(pid_file)], cwd=root)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert run.poll() is None and time.monotonic() < deadline, "the isolated stage never started"
        time.sleep(0.1)
    child = psutil.Process(int(pid_file.read_text()))
    assert child.is_running() and child.pid != run.pid
    run.send_signal(signal.SIGKILL)
    run.wait()
    child.wait(timeout=10)  # raises TimeoutExpired if the worker outlives the run
    assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE
