"""`fhirip import` with a data directory that does not exist yet creates it for its checkpoint,
also when the store lives elsewhere (FHIRIP_DATABASE_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_creates_a_missing_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    env = {**os.environ, "FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true", "FHIRIP_DATA_DIR": str(data_dir)}
    env["FHIRIP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'store' / 'fhirip.sqlite3'}"
    done = subprocess.run([sys.executable, "-m", "fhirip.cli", "import", "--format", "planpro",
                           str(ROOT / "mappings/planpro/samples/good"), "--data-dir", str(data_dir)],
                          env=env, capture_output=True, timeout=600, cwd=ROOT)
    assert done.returncode in (0, 2), done.stderr.decode()[-2000:]  # 2: imported, some values lost
    assert (data_dir / "import-planpro.checkpoint").exists()
