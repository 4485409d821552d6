"""The NDJSON files of an export job: one resource a line, a new file every `per_file` resources
of a type, and only what the job's recorded progress says was written.

Lines are appended before the job's progress is committed with each file's size; a runner
that dies between the two leaves lines past the recorded size, which `keep_recorded` cuts
off before the job goes on, so a resumed job writes no resource twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from fhirip.export.jobs import Output
from fhirip.export.sweeps import Found

NDJSON = "application/fhir+ndjson"


def job_directory(export_dir: Path, job_id: str) -> Path:
    return export_dir / job_id


def keep_recorded(directory: Path, outputs: list[Output]) -> None:
    """Cut every file back to its recorded size and remove files the job never recorded."""
    directory.mkdir(parents=True, exist_ok=True)
    recorded = {o.file: o.size for o in outputs}
    for path in directory.iterdir():
        size = recorded.get(path.name)
        if size is None:
            path.unlink()
        elif path.stat().st_size > size:
            with path.open("r+b") as handle:
                handle.truncate(size)


def append(directory: Path, outputs: list[Output], found: Iterable[Found], per_file: int) -> list[Output]:
    """Append each resource to its type's current file (a new one when it is full); the outputs after."""
    result = list(outputs)
    current = {o.res_type: i for i, o in enumerate(result)}  # the last file of each type
    lines: dict[int, list[bytes]] = {}
    for item in found:
        index = current.get(item.res_type)
        if index is None or result[index].count >= per_file:
            number = sum(1 for o in result if o.res_type == item.res_type) + 1
            result.append(Output(item.res_type, f"{item.res_type}-{number}.ndjson", 0, 0))
            index = current[item.res_type] = len(result) - 1
        output = result[index]
        result[index] = Output(output.res_type, output.file, output.count + 1, output.size + len(item.content) + 1)
        lines.setdefault(index, []).append(item.content)
    for index, chunk in lines.items():
        with (directory / result[index].file).open("ab") as handle:
            handle.write(b"\n".join(chunk) + b"\n")
    return result


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
