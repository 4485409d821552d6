"""The peer of `make bench`: `sekmet-fhir` from PyPI (FastAPI + SQLite), in a venv of its own.

Installed with pip into `.bench-venvs/sekmet-fhir-<version>/` (its dependencies must not
touch the project's), started as its CLI's `serve` does (`uvicorn sekmet.main:app_factory
--factory`) with 2 worker processes, like fhirip's 2 gunicorn workers, and loaded over HTTP
with the same generated resources in transaction Bundles. Its settings are its own
recommendation for load runs: no inbound traffic log, no workflow simulator; authentication
is off (its default), validation of writes is its default (structural, against the R4B
models); its FHIR base is `/fhir`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.servers import ROOT, WORKERS, Server, free_port

PACKAGE = "sekmet-fhir"
VERSION = "0.1.1"
VENVS = ROOT / ".bench-venvs"
PREFIX = "/fhir"
LOAD_BATCH = 250  # resources per transaction Bundle while loading


def clean_env() -> dict[str, str]:
    """This environment without the project's Python path: the peer runs on its own venv alone."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def ensure_installed(version: str = VERSION, venvs: Path = VENVS) -> tuple[Path, float]:
    """The peer venv's python, creating the venv and installing the package if needed; (python, seconds spent)."""
    started = time.perf_counter()
    venv = venvs / f"{PACKAGE}-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        venvs.mkdir(parents=True, exist_ok=True)
        (venvs / ".gitignore").write_text("*\n")  # the venvs are a cache: never part of the repository
        base = getattr(sys, "_base_executable", sys.executable)
        env = clean_env()
        for command in ([base, "-m", "venv", "--clear", str(venv)],
                        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                         f"{PACKAGE}=={version}"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:  # pip's output only when it failed: it is long and mostly warnings
                raise RuntimeError(f"installing {PACKAGE}=={version} failed: {' '.join(command)}\n"
                                   f"{(done.stdout + done.stderr)[-3000:]}")
        marker.write_text(version)
    return python, time.perf_counter() - started


def installed_version(python: Path) -> str:
    found = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version('{PACKAGE}'))"],
                           capture_output=True, text=True, check=True, env=clean_env())
    return found.stdout.strip()


class PeerServer(Server):
    """`with PeerServer(python, workdir) as root:` — the peer on a free loopback port (FHIR base root + /fhir)."""

    name = PACKAGE

    def __init__(self, python: Path, workdir: Path, workers: int = WORKERS):
        port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "settings.yaml"
        config.write_text(json.dumps(peer_settings(port, workdir)))  # JSON is YAML
        super().__init__(
            [str(python.with_name("uvicorn")), "sekmet.main:app_factory", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
            clean_env() | {"SEKMET_CONFIG": str(config)}, port, f"{PREFIX}/metadata", cwd=workdir)


def peer_settings(port: int, workdir: Path) -> dict[str, Any]:
    """The peer's settings file: its documented advice for load runs (no inbound traffic log), no simulator."""
    return {"base_url": f"http://127.0.0.1:{port}{PREFIX}", "host": "127.0.0.1", "port": port,
            "data_dir": str(workdir), "log_inbound": False, "simulator": {"enabled": False}}


def load(root: str, resources: Iterable[dict[str, Any]]) -> tuple[int, float]:
    """PUT every resource with its id, in transaction Bundles; (resources written, seconds)."""
    started = time.perf_counter()
    written = 0
    batch: list[dict[str, Any]] = []
    with httpx.Client(base_url=root, timeout=300) as client:
        def send() -> None:
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in batch]}
            response = client.post(PREFIX, content=orjson.dumps(bundle),
                                    headers={"Content-Type": "application/fhir+json"})
            if response.status_code != 200:
                raise RuntimeError(f"{PACKAGE} refused the data: {response.status_code} {response.text[:1000]}")

        for item in resources:
            batch.append(item)
            if len(batch) >= LOAD_BATCH:
                send()
                written += len(batch)
                batch = []
        if batch:
            send()
            written += len(batch)
    return written, time.perf_counter() - started
