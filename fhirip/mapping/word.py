"""Word (.docx) plans on the common template headings: Personalia, Samtykke, Koordinator,
Deltakere, Mål, Tiltak, Evaluering, Kriseplan.

Format description: mappings/docx/FORMAT.md; mapping spec: mappings/docx/spec.json.
A section is the content under a level-1 heading: a two-column label/value table
("key-value"), a table with a header row ("table"), or free paragraphs ("text"). The "line"
of a loss is the block number in the document (each paragraph and each table row is one).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import docx
from docx.document import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from fhirip.mapping.fields import format_value, parse_row
from fhirip.mapping.records import Loss, Original, PlanRecord, RecordError
from fhirip.mapping.spec import FamilySpec, KindSpec

_DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_MAX_UNPACKED = 200 * 1024 * 1024  # a zip bomb in a .docx is refused before python-docx opens it


@dataclass
class _Section:
    heading: str
    line: int
    paragraphs: list[tuple[int, str]] = field(default_factory=list)
    tables: list[list[tuple[int, list[str]]]] = field(default_factory=list)


def _sections(document: Document) -> list[_Section]:
    sections: list[_Section] = [_Section("", 0)]
    line = 0
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            line += 1
            paragraph = Paragraph(block, document)
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            if style.lower().startswith(("heading 1", "overskrift 1")):
                sections.append(_Section(paragraph.text.strip(), line))
            elif paragraph.text.strip():
                sections[-1].paragraphs.append((line, paragraph.text))
        elif tag == "tbl":
            rows = []
            for row in Table(block, document).rows:
                line += 1
                rows.append((line, [cell.text for cell in row.cells]))
            sections[-1].tables.append(rows)
    return sections


def _open(data: bytes, name: str) -> Document | RecordError:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > _MAX_UNPACKED:
                return RecordError(name, None, "document", "unpacks to more than 200 MB; refused")
            bad = archive.testzip()
            if bad is not None:
                return RecordError(name, None, "document", f"corrupted .docx: damaged member {bad}")
        return docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as error:
        return RecordError(name, None, "document", f"not a readable .docx ({type(error).__name__}: {error})")
    except Exception as error:  # python-docx raises lxml errors for broken parts
        return RecordError(name, None, "document", f"not a readable .docx ({type(error).__name__}: {error})")


def _label_rows(section: _Section, layout: str) -> list[tuple[int, dict[str, str]]]:
    """Each source row as (line, {label: text})."""
    if layout == "text":
        if not section.paragraphs:
            return []
        return [(section.paragraphs[0][0], {"": "\n".join(text for _, text in section.paragraphs)})]
    rows: list[tuple[int, dict[str, str]]] = []
    for table in section.tables:
        if layout == "key-value":
            rows.append((table[0][0] if table else section.line,
                         {cells[0].strip(): cells[1] if len(cells) > 1 else "" for _, cells in table}))
        elif table:
            header = [cell.strip() for cell in table[0][1]]
            rows.extend((line, dict(zip(header, cells))) for line, cells in table[1:])
    return rows


def read_docx(spec: FamilySpec, data: bytes, name: str) -> Iterator[PlanRecord | RecordError]:
    document = _open(data, name)
    if isinstance(document, RecordError):
        yield document
        return
    sections = {s.heading.casefold(): s for s in _sections(document)}
    stem = Path(name).stem
    personalia = sections.get("personalia")
    plan_label = spec.kinds["plan"].source["key"]
    plan_rows = _label_rows(personalia, "key-value") if personalia else []
    plan_key = (plan_rows[0][1].get(plan_label, "").strip() if plan_rows else "") or stem
    record = PlanRecord(spec.family, plan_key, source=name, original=Original(Path(name).name, _DOCX_TYPE, data))
    used: set[tuple[str, str]] = set()
    for kind in spec.kinds.values():
        for source in kind.source["sources"]:
            section = sections.get(source["section"].casefold())
            if section is None:
                continue
            for line, labels in _label_rows(section, source["layout"]):
                error = _read_row(spec, kind, source, section, line, labels, record, name, used)
                if error is not None:
                    yield error
                    return
    _report_unused(spec, sections, used, record, name)
    if not record.rows_of("plan"):
        yield RecordError(name, None, "plan", "no Personalia section with plan data", plan_key)
        return
    yield record


def _read_row(spec: FamilySpec, kind: KindSpec, source: dict, section: _Section, line: int, labels: dict[str, str],
              record: PlanRecord, name: str, used: set[tuple[str, str]]) -> RecordError | None:
    raw: dict[str, str | None] = {}
    for spec_field in kind.fields:
        label = spec_field.column or spec_field.field
        value = labels.get(label) if source["layout"] != "text" else labels.get("")
        raw[spec_field.field] = value
        if value is not None:
            used.add((section.heading.casefold(), label if source["layout"] != "text" else ""))
    raw.update(source.get("constants", {}))
    key_label = kind.source["key"]
    key = (labels.get(key_label) or "").strip() if source["layout"] != "text" else key_label
    if kind.name == "plan":
        key = record.key
    if not key and kind.name not in ("person",):
        if not any((v or "").strip() for v in raw.values() if v is not None and v not in source.get("constants", {}).values()):
            return None  # an empty template row
        key = f"{kind.name}-{line}"
    result = parse_row(spec, kind, raw, file=name, line=line, plan_key=record.key, key=key or f"line-{line}")
    record.losses.extend(result.losses)
    if result.row is None:
        if kind.name in ("person", "plan"):
            return RecordError(name, line, f"{kind.name} in {section.heading}", result.refusal or "", record.key)
        record.losses.append(Loss(name, line, f"{kind.name} {key} of plan {record.key}", kind.name, key,
                                  f"record not imported: {result.refusal}"))
        return None
    if kind.name == "person" and "fnr" in result.row.values:
        result.row.key = str(result.row.values["fnr"])
    record.add(result.row)
    return None


def _report_unused(spec: FamilySpec, sections: dict[str, _Section], used: set[tuple[str, str]],
                   record: PlanRecord, name: str) -> None:
    known = {s.casefold() for s in spec.format.get("sections", [])}
    for heading, section in sections.items():
        if heading and heading not in known:
            for line, text in section.paragraphs:
                record.losses.append(Loss(name, line, f"plan {record.key}", section.heading, text,
                                          "section heading is not on the template; text not mapped"))
            continue
        layouts = {s["layout"] for k in spec.kinds.values() for s in k.source["sources"]
                   if s["section"].casefold() == heading}
        if "key-value" in layouts:
            for table in section.tables:
                for line, cells in table:
                    label = cells[0].strip()
                    if (heading, label) not in used and len(cells) > 1 and cells[1].strip():
                        record.losses.append(Loss(name, line, f"plan {record.key}", f"{section.heading}/{label}",
                                                  cells[1], "label is not on the template; value not mapped"))


def write_docx(spec: FamilySpec, records: list[PlanRecord]) -> tuple[dict[str, bytes], list[Loss]]:
    files: dict[str, bytes] = {}
    for record in records:
        document = docx.Document()
        document.add_heading(spec.format.get("title", "Individuell plan"), level=0)
        by_section: dict[str, list[tuple[KindSpec, dict]]] = {}
        for kind in spec.kinds.values():
            for source in kind.source["sources"]:
                by_section.setdefault(source["section"], []).append((kind, source))
        placed: set[tuple[str, str]] = set()
        for section in spec.format.get("sections", list(by_section)):
            document.add_heading(section, level=1)
            for kind, source in by_section.get(section, []):
                rows = [row for row in record.rows_of(kind.name) if (kind.name, row.key) not in placed
                        and all(row.values.get(f) == v for f, v in source.get("constants", {}).items())]
                if source["layout"] == "key-value":
                    rows = rows[:1]
                    table = _key_value_table(document)
                    for row in rows:
                        placed.add((kind.name, row.key))
                        for spec_field in kind.fields:
                            label = spec_field.column or spec_field.field
                            if spec_field.field in source.get("constants", {}):
                                continue
                            cells = table.add_row().cells
                            cells[0].text = label
                            cells[1].text = _cell_text(spec, record, kind, row, spec_field)
                elif source["layout"] == "table":
                    labels = [f.column or f.field for f in kind.fields]
                    table = document.add_table(rows=1, cols=len(labels))
                    table.style = "Table Grid"
                    for cell, label in zip(table.rows[0].cells, labels):
                        cell.text = label
                    for row in rows:
                        placed.add((kind.name, row.key))
                        for cell, spec_field in zip(table.add_row().cells, kind.fields):
                            cell.text = _cell_text(spec, record, kind, row, spec_field)
                else:
                    for row in rows:
                        placed.add((kind.name, row.key))
                        for text in str(row.values.get(kind.fields[0].field, "")).split("\n"):
                            document.add_paragraph(text)
        buffer = io.BytesIO()
        document.save(buffer)
        files[f"{record.key}.docx"] = buffer.getvalue()
    return files, []


def _key_value_table(document: Document) -> Table:
    """One label/value table per section, shared by the kinds that section holds (Personalia)."""
    last = document.element.body[-2] if len(document.element.body) > 1 else None
    if last is not None and last.tag.endswith("tbl") and document.tables and document.tables[-1]._tbl is last:
        return document.tables[-1]
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    return table


def _cell_text(spec: FamilySpec, record: PlanRecord, kind: KindSpec, row, spec_field) -> str:
    if spec_field.type == "key" or (kind.source["key"] == (spec_field.column or spec_field.field) and kind.name == "plan"):
        return record.key if kind.name == "plan" else row.key
    text, _ = format_value(spec, spec_field, row.values.get(spec_field.field))
    return text
