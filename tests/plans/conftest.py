"""Fixtures of the plan tests: the live server with the individual-plan rules among its write hooks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirip.plans import plan_rules
from fhirip.testing.live import LiveServer

sys.path.insert(0, str(Path(__file__).parent))  # the suite's data builders


@pytest.fixture(autouse=True)
def with_plan_rules(live_server: LiveServer) -> Iterator[None]:
    """Run the plan rules on every write, whether or not the server wires them itself."""
    hooks = live_server.services.write_hooks
    added = plan_rules not in hooks
    if added:
        hooks.append(plan_rules)
    yield
    if added:
        hooks.remove(plan_rules)
