"""PlanPro-style relational export: one ``;``-delimited cp1252 file per record kind.

Format description: mappings/planpro/FORMAT.md; mapping spec: mappings/planpro/spec.json.
Rows are grouped by ``plan_id`` (person rows by the plan's ``person_id``); each plan becomes a
``PlanRecord`` whose original is a zip of exactly the rows that made it, file by file.
"""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Iterator

from fhirip.mapping.delimited import DelimitedFile, DelimitedRow, read_delimited, write_delimited
from fhirip.mapping.fields import PRECISION_SUFFIX, format_value, parse_row
from fhirip.mapping.records import Loss, Original, PlanRecord, RecordError, SourceRow
from fhirip.mapping.spec import FamilySpec, KindSpec

_ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # fixed, so the same plan always zips to the same bytes


def files_from_path(path: Path) -> dict[str, bytes]:
    """The export's files: a directory of .csv files, or a .zip holding them."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
    return files_from_zip(path.read_bytes(), str(path))


def files_from_zip(data: bytes, name: str) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {Path(info.filename).name: archive.read(info) for info in archive.infolist()
                    if not info.is_dir() and info.file_size < 512 * 1024 * 1024}
    except zipfile.BadZipFile as error:
        raise ValueError(f"{name}: not a directory or zip of export files ({error})") from None


class _Export:
    """The parsed files of one export, and what is wrong with them, by owner (plan or person)."""

    def __init__(self, spec: FamilySpec, files: dict[str, bytes], source: str) -> None:
        self.spec, self.files, self.source = spec, files, source
        fmt = spec.format
        self.options = dict(delimiter=fmt.get("delimiter", ";"), quote=fmt.get("quote", '"'),
                            encoding=fmt.get("encoding", "cp1252"))
        self.parsed: dict[str, DelimitedFile] = {}
        self.rows: dict[str, dict[str, list[tuple[SourceRow, DelimitedRow]]]] = defaultdict(lambda: defaultdict(list))
        self.errors: dict[str, list[RecordError]] = defaultdict(list)
        self.losses: dict[str, list[Loss]] = defaultdict(list)
        self.file_notes: list[Loss] = []  # apply to every plan (a missing optional file or column)
        self.fatal: list[RecordError] = []
        self.code_lists = self._code_lists()
        for kind in spec.kinds.values():
            self._read_kind(kind)

    def _code_lists(self) -> dict[str, dict[str, str]]:
        lists: dict[str, dict[str, str]] = {}
        for name, info in self.spec.code_systems.items():
            data = self.files.get(info["file"])
            codes: dict[str, str] = {}
            if data is None:
                self.file_notes.append(Loss(info["file"], None, "export", info["file"], "",
                                            "local code list missing from the export: its codes cannot be recognised"))
            else:
                parsed = read_delimited(info["file"], data, **self.options)
                self.parsed[info["file"]] = parsed
                if info["code_column"] in parsed.header:
                    code_at = parsed.header.index(info["code_column"])
                    display_at = parsed.header.index(info["display_column"]) if info["display_column"] in parsed.header else None
                    for row in parsed.rows:
                        if row.problem is None:
                            codes[row.cells[code_at].strip()] = row.cells[display_at] if display_at is not None else ""
                        else:
                            self.file_notes.append(Loss(info["file"], row.first_line, "code list row", info["code_column"],
                                                        "", row.problem))
            lists[name] = codes
        return lists

    def _read_kind(self, kind: KindSpec) -> None:
        file_name = kind.source["file"]
        data = self.files.get(file_name)
        vital = kind.name in ("person", "plan")
        if data is None:
            if vital:
                self.fatal.append(RecordError(file_name, None, f"{kind.name} file", "file missing from the export"))
            else:
                self.file_notes.append(Loss(file_name, None, "export", file_name, "",
                                            f"file missing from the export: no {kind.name} records imported"))
            return
        parsed = read_delimited(file_name, data, **self.options)
        self.parsed[file_name] = parsed
        columns = {name: at for at, name in enumerate(parsed.header)}
        key_column = kind.source["key"]
        owner_column = key_column if kind.name in ("person", "plan") else self.spec.format["plan_key_column"]
        for needed in {key_column, owner_column}:
            if needed not in columns:
                self.fatal.append(RecordError(file_name, 1, f"{kind.name} file header",
                                              f"column {needed} missing; no {kind.name} row can be attributed to a plan"))
                return
        known = {f.column for f in kind.fields} | {f.precision_column for f in kind.fields if f.precision_column}
        for field in kind.fields:
            if field.column not in columns:
                self.file_notes.append(Loss(file_name, 1, f"{kind.name} file header", field.column or field.field, "",
                                            "column missing from the export" + ("; its records cannot be imported" if field.required else "")))
        extra = [name for name in parsed.header if name not in known]
        for row in parsed.rows:
            owner = row.cells[columns[owner_column]].strip() if columns[owner_column] < len(row.cells) else ""
            key = row.cells[columns[key_column]].strip() if columns[key_column] < len(row.cells) else ""
            record = f"{kind.name} {key or '?'} (line {row.first_line})"
            if row.problem or not key or not owner:
                self.errors[owner or f"?{file_name}:{row.first_line}"].append(RecordError(
                    file_name, row.first_line, record, row.problem or f"{key_column}/{owner_column} is empty", owner or None))
                continue
            raw: dict[str, str | None] = {}
            for field in kind.fields:
                at = columns.get(field.column or "")
                raw[field.field] = row.cells[at] if at is not None else None
                if field.precision_column and field.precision_column in columns:
                    raw[field.field + PRECISION_SUFFIX] = row.cells[columns[field.precision_column]]
            plan_key = owner if kind.name != "person" else f"(person {owner})"
            result = parse_row(self.spec, kind, raw, file=file_name, line=row.first_line, plan_key=plan_key, key=key)
            self.losses[owner].extend(result.losses)
            for name in extra:
                value = row.cells[columns[name]]
                if value.strip():
                    self.losses[owner].append(Loss(file_name, row.first_line, record, name, value,
                                                   "column has no mapping in the spec"))
            if result.row is None:
                if vital:
                    self.errors[owner].append(RecordError(file_name, row.first_line, record, result.refusal or "", owner))
                else:
                    self.losses[owner].append(Loss(file_name, row.first_line, record, kind.name, key,
                                                   f"record not imported: {result.refusal}"))
                continue
            self.rows[owner][kind.name].append((result.row, row))

    def plans(self) -> Iterator[PlanRecord | RecordError]:
        yield from self.fatal
        if any(error.record.startswith(("person file", "plan file")) for error in self.fatal):
            return
        plan_kind = self.spec.kinds["plan"]
        person_field = next(f.field for f in plan_kind.fields if f.type == "join")
        plan_keys: list[str] = []
        for owner, kinds in self.rows.items():
            if kinds.get("plan"):
                plan_keys.append(owner)
        seen = set(plan_keys)
        for owner, errors in self.errors.items():
            if owner not in seen and not any(e.record.startswith("person") for e in errors):
                yield from errors
        for plan_key in plan_keys:
            plan_row = self.rows[plan_key]["plan"][0]
            person_key = str(plan_row[0].values.get(person_field, ""))
            errors = self.errors.get(plan_key, []) + self.errors.get(person_key, [])
            if errors:
                yield from (RecordError(e.file, e.line, e.record, e.reason, plan_key) for e in errors)
                continue
            person_rows = self.rows.get(person_key, {}).get("person", [])
            if not person_rows:
                yield RecordError(plan_row[0].file, plan_row[0].line, f"plan {plan_key}",
                                  f"person {person_key or '(empty)'} not in {self.spec.kinds['person'].source['file']}", plan_key)
                continue
            yield self._record(plan_key, person_key)
        for owner, kinds in self.rows.items():
            if owner not in seen and "person" not in kinds and owner not in self.errors:
                for rows in kinds.values():
                    source_row, raw = rows[0]
                    yield RecordError(source_row.file, raw.first_line, f"{source_row.kind} {source_row.key}",
                                      f"plan {owner} is not in {self.spec.kinds['plan'].source['file']}", owner)

    def _record(self, plan_key: str, person_key: str) -> PlanRecord:
        record = PlanRecord(self.spec.family, plan_key, source=self.source, code_lists=self.code_lists)
        picked: dict[str, list[bytes]] = defaultdict(list)
        for kind in self.spec.kinds:
            owner = person_key if kind == "person" else plan_key
            for source_row, raw in self.rows.get(owner, {}).get(kind, []):
                record.add(source_row)
                picked[source_row.file].append(raw.raw)
        record.losses = self.losses.get(person_key, []) + self.losses.get(plan_key, []) + list(self.file_notes)
        record.original = Original(f"{plan_key}.zip", "application/zip", self._zip(picked))
        return record

    def _zip(self, picked: dict[str, list[bytes]]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, parsed in self.parsed.items():
                if name in picked or name in {c["file"] for c in self.spec.code_systems.values()}:
                    body = parsed.header_raw + b"".join(picked.get(name, [])) if name in picked else self.files[name]
                    archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), body)
        return buffer.getvalue()


def read_planpro(spec: FamilySpec, files: dict[str, bytes], source: str) -> Iterator[PlanRecord | RecordError]:
    yield from _Export(spec, files, source).plans()


def write_planpro(spec: FamilySpec, records: list[PlanRecord]) -> tuple[dict[str, bytes], list[Loss]]:
    """The export files for these plans (the reverse of ``read_planpro``)."""
    fmt = spec.format
    encoding = fmt.get("encoding", "cp1252")
    files: dict[str, bytes] = {}
    losses: list[Loss] = []
    for kind in spec.kinds.values():
        header: list[str] = []
        for field in kind.fields:
            header.append(field.column or field.field)
            if field.precision_column:
                header.append(field.precision_column)
        rows: list[list[str]] = []
        seen_keys: set[str] = set()
        for record in records:
            for row in record.rows_of(kind.name):
                if kind.name == "person":
                    if row.key in seen_keys:
                        continue
                    seen_keys.add(row.key)
                cells: list[str] = []
                for field in kind.fields:
                    if field.type == "key":
                        text, marker = row.key, None
                    elif field.type == "plan":
                        text, marker = record.key, None
                    else:
                        text, marker = format_value(spec, field, row.values.get(field.field))
                    cells.append(text)
                    if field.precision_column:
                        cells.append(marker if marker in ("M", "A") else "")
                rows.append(cells)
        text = write_delimited(header, rows, delimiter=fmt.get("delimiter", ";"), quote=fmt.get("quote", '"'))
        files[kind.source["file"]] = _encode(text, encoding, kind.source["file"], losses)
    for name, info in spec.code_systems.items():
        codes: dict[str, str] = {}
        for record in records:
            codes.update(record.code_lists.get(name, {}))
        text = write_delimited([info["code_column"], info["display_column"]], [[c, d] for c, d in sorted(codes.items())],
                               delimiter=fmt.get("delimiter", ";"), quote=fmt.get("quote", '"'))
        files[info["file"]] = _encode(text, encoding, info["file"], losses)
    return files, losses


def _encode(text: str, encoding: str, name: str, losses: list[Loss]) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        for number, line in enumerate(text.split("\r\n"), start=1):
            for character in line:
                try:
                    character.encode(encoding)
                except UnicodeEncodeError:
                    losses.append(Loss(name, number, "export row", "", character,
                                       f"character cannot be written in {encoding}; written as '?'"))
        return text.encode(encoding, errors="replace")
