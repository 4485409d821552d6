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


def test_every_command_shows_its_defaults_in_its_help(capsys, monkeypatch) -> None:
    import pytest

    from fhirip.cli import main

    monkeypatch.delenv("FHIRIP_DATA_DIR", raising=False)
    for command, defaults in (("serve", ("(default: 8080)", "(default: 127.0.0.1)", "(default: 2)", "(default: data)")),
                              ("import", ("(default: 50)", "(default: data)")),
                              ("load-demo", ("(default: data)",))):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        assert all(default in shown for default in defaults), (command, shown)
