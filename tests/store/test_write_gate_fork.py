"""A child forked by a writer (the import's helper process) never holds the writer's SQLite
write lock: when the writer is killed holding it, the next writer gets it, though the child lives."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_WRITER = """
import os, sys, time
from fhirip.store.engine import SqliteWriteGate
gate = SqliteWriteGate(sys.argv[1])
with gate():
    pass  # the lock file is open from now on, as in a server or an import
child = os.fork()
if child == 0:
    time.sleep(60)  # a helper that outlives its parent
    os._exit(0)
print(child, flush=True)
with gate():
    print("holding", flush=True)
    time.sleep(60)  # killed here, holding the write lock
"""


def test_a_killed_writers_lock_is_free_though_its_forked_child_lives(tmp_path: Path) -> None:
    database = str(tmp_path / "gate.sqlite3")
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, database], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    child = int(writer.stdout.readline())
    try:
        assert writer.stdout.readline().strip() == "holding"
        writer.kill()
        writer.wait(10)
        with open(database + "-writers.lock", "a+b") as lock:
            deadline = time.monotonic() + 10
            while True:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, "the killed writer's child still holds the lock"
                    time.sleep(0.05)
            os.kill(child, 0)  # the child is alive all the same
    finally:
        writer.kill()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
