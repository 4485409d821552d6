"""Processes a server starts beside itself: the audit journal mover, the export runner and the
subscription deliverer.

Each is a new interpreter (`python -m <module> <parent pid> <args…>`), never a fork of a serving
process that holds threads and locks, and a plain child process rather than a multiprocessing
one, which every process forked from the server afterwards (gunicorn's workers under --preload)
would try to stop and join at its exit. The database URL reaches it through its environment, not
its command line, where any user of the machine could read a password in it. A companion
watches its parent's pid and ends with it; SIGTERM (from the server) and SIGINT (from a terminal)
raise `Stopped`, which is not an Exception, so that no handler of a failed round of work takes it
for one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any


class Stopped(BaseException):
    """The companion was told to stop."""


def _raise_stopped(_signal: int, _frame: Any) -> None:
    raise Stopped


def _stop_again_later(unraisable: Any) -> None:
    """A `Stopped` raised where Python cannot pass an exception on (a weak reference's callback,
    a finaliser run by the garbage collector) would be printed as ignored and lost, and the
    companion would run on until killed: it asks for the stop again a moment later (an alarm), to
    land once this code has returned (a signal sent to itself at once would land right here)."""
    if isinstance(unraisable.exc_value, Stopped):
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    sys.__unraisablehook__(unraisable)


def stop_on_signals() -> None:
    """In the companion: SIGTERM and SIGINT raise `Stopped` wherever it is."""
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    signal.signal(signal.SIGALRM, _raise_stopped)
    sys.unraisablehook = _stop_again_later


def start(module: str, args: Sequence[str], *, url_variable: str, url: str) -> subprocess.Popen[bytes]:
    """Run `python -m module <this pid> args…` with the database URL in `url_variable`."""
    environment = {**os.environ, url_variable: url}
    return subprocess.Popen([sys.executable, "-m", module, str(os.getpid()), *args],
                            env=environment, stdin=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    """Ask a companion to stop, and kill it if it has not within `timeout` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Companion:
    """One companion of a server process, started as the server boots and stopped only by the
    process that started it (gunicorn's workers, forked from it under --preload, share it)."""

    def __init__(self, module: str, args: Sequence[str], *, url_variable: str, url: str):
        self.module, self.args, self.url_variable, self.url = module, tuple(args), url_variable, url
        self.process: subprocess.Popen[bytes] | None = None
        self.owner = 0

    def start(self) -> None:
        if self.owner in (os.getpid(), os.getppid()):
            return  # started here, or by the process this one was forked from
        self.process = start(self.module, self.args, url_variable=self.url_variable, url=self.url)
        self.owner = os.getpid()

    def stop(self) -> None:
        if self.owner == os.getpid():
            stop(self.process)
