"""The helper process preparing an import's plans ends with the import: killed while the helper
still has plans to hand over (or has finished preparing them), it does not linger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import write_export

_IMPORTER = """
import multiprocessing, sys, time
from pathlib import Path
from fhirip.mapping.preparing import prepared_in_background
plans = prepared_in_background("planpro", Path(sys.argv[1]))
next(plans)  # the helper runs; this process then reads no more, as an import killed mid-way
helpers = multiprocessing.active_children()
print(helpers[0].pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its parent's wait would remove it.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


# 30 plans: the helper has prepared and queued them all, and waits at exit to hand them over;
# 300: more than it may prepare ahead, it waits for room in the queue.
@pytest.mark.parametrize("plans", [30, 300])
def test_the_helper_ends_when_the_import_is_killed(tmp_path: Path, plans: int) -> None:
    export = write_export(tmp_path / "export", plans)
    importer = subprocess.Popen([sys.executable, "-c", _IMPORTER, str(export)], stdout=subprocess.PIPE,
                                text=True, cwd=Path(__file__).resolve().parents[2])
    helper = int(importer.stdout.readline())
    try:
        time.sleep(1.0)  # the helper fills the queue and waits to hand over the rest
        importer.send_signal(signal.SIGKILL)
        importer.wait(10)
        deadline = time.monotonic() + 10
        while _alive(helper) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(helper)
    finally:
        importer.kill()
        if _alive(helper):
            os.kill(helper, signal.SIGKILL)
