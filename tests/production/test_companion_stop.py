"""A companion told to stop while Python runs code that cannot pass an exception on (here a weak
reference's callback, as the garbage collector runs them) still stops, and prints no traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, signal, time, weakref
    from fhirip.companions import Stopped, stop_on_signals

    stop_on_signals()

    class Thing:
        pass

    def collected(_ref):
        os.kill(os.getpid(), signal.SIGTERM)  # the stop arrives while the callback runs
        total = 0
        for n in range(100_000):
            total += n

    thing = Thing()
    ref = weakref.ref(thing, collected)
    try:
        del thing
        time.sleep(10)
        print("ran on")
    except Stopped:
        print("stopped")
""")


def test_a_stop_that_arrives_in_a_weak_reference_callback_still_stops_the_companion() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "stopped", done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
