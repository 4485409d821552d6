"""The format families by name: how each reads a path or one document, and writes plans back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from fhirip.mapping import acos, planpro, word
from fhirip.mapping.records import Loss, PlanRecord, RecordError
from fhirip.mapping.spec import FamilySpec, load_spec

ReadResult = Iterator[PlanRecord | RecordError]


@dataclass(frozen=True)
class Family:
    name: str
    read_path: Callable[[FamilySpec, Path], ReadResult]
    read_document: Callable[[FamilySpec, bytes, str], ReadResult]
    write: Callable[[FamilySpec, list[PlanRecord]], tuple[dict[str, bytes], list[Loss]]]


def _planpro_path(spec: FamilySpec, path: Path) -> ReadResult:
    try:
        files = planpro.files_from_path(path)
    except (OSError, ValueError) as error:
        yield RecordError(str(path), None, "export", str(error))
        return
    yield from planpro.read_planpro(spec, files, str(path))


def _planpro_document(spec: FamilySpec, document: bytes, name: str) -> ReadResult:
    try:
        files = planpro.files_from_zip(document, name)
    except ValueError as error:
        yield RecordError(name, None, "document", str(error))
        return
    yield from planpro.read_planpro(spec, files, name)


def _each_file(suffixes: tuple[str, ...], read_one: Callable[[FamilySpec, bytes, str], ReadResult]
               ) -> Callable[[FamilySpec, Path], ReadResult]:
    def read_path(spec: FamilySpec, path: Path) -> ReadResult:
        paths = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes) \
            if path.is_dir() else [path]
        for file_path in paths:
            try:
                data = file_path.read_bytes()
            except OSError as error:
                yield RecordError(str(file_path), None, "file", f"cannot read: {error}")
                continue
            yield from read_one(spec, data, str(file_path))
    return read_path


FAMILIES: dict[str, Family] = {
    "planpro": Family("planpro", _planpro_path, _planpro_document, planpro.write_planpro),
    "acos": Family("acos", _each_file((".xml",), acos.read_acos), acos.read_acos, acos.write_acos),
    "docx": Family("docx", _each_file((".docx",), word.read_docx), word.read_docx, word.write_docx),
}


def family(name: str) -> tuple[Family, FamilySpec]:
    if name not in FAMILIES:
        raise ValueError(f"unknown legacy format {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name], load_spec(name)
