"""ACOS IP-style XML export: one ``IndividuellPlan`` document per plan.

Format description: mappings/acos/FORMAT.md; mapping spec: mappings/acos/spec.json.
Every document is first parsed by defusedxml, which refuses DTDs and entity declarations
(billion laughs, external entities); only a document that passes is parsed again by lxml
for the line numbers the loss report needs.
"""

from __future__ import annotations

from typing import Iterator

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from lxml import etree

from fhirip.mapping.fields import format_value, parse_row
from fhirip.mapping.records import Loss, Original, PlanRecord, RecordError
from fhirip.mapping.spec import FamilySpec, KindSpec

_LXML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_MAX_BYTES = 50 * 1024 * 1024


class _Paths:
    """Read and write ``Child/Sub``, ``@Attr``, ``Child/@Attr``, ``.`` and ``../@Attr`` in one namespace."""

    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def elements(self, root: etree._Element, path: str) -> list[etree._Element]:
        if path == ".":
            return [root]
        return root.findall("/".join(self.tag(step) for step in path.split("/")))

    def read(self, element: etree._Element, path: str) -> tuple[str | None, etree._Element | None, str | None]:
        """(value, the element holding it, the attribute name or None)."""
        node: etree._Element | None = element
        steps = path.split("/")
        for step in steps[:-1]:
            node = node.getparent() if step == ".." else node.find(self.tag(step))  # type: ignore[union-attr]
            if node is None:
                return None, None, None
        last = steps[-1]
        if last.startswith("@"):
            return node.get(last[1:]), node, last[1:]  # type: ignore[union-attr]
        if last != ".":
            node = node.find(self.tag(last))  # type: ignore[union-attr]
        if node is None:
            return None, None, None
        return (node.text or ""), node, None

    def write(self, element: etree._Element, path: str, value: str) -> None:
        node = element
        steps = path.split("/")
        for step in steps[:-1]:
            if step == "..":
                return  # the enclosing element carries it
            child = node.find(self.tag(step))
            node = child if child is not None else etree.SubElement(node, self.tag(step))
        last = steps[-1]
        if last.startswith("@"):
            node.set(last[1:], value)
        elif last == ".":
            node.text = value
        else:
            child = node.find(self.tag(last))
            child = child if child is not None else etree.SubElement(node, self.tag(last))
            child.text = value


def _parse(data: bytes, name: str) -> etree._Element | RecordError:
    if len(data) > _MAX_BYTES:
        return RecordError(name, None, "document", f"larger than {_MAX_BYTES} bytes")
    try:
        safe_xml.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        return RecordError(name, None, "document", f"refused as unsafe XML ({type(error).__name__}: {error})")
    except safe_xml.ParseError as error:
        line = error.position[0] if getattr(error, "position", None) else None
        return RecordError(name, line, "document", f"not well-formed XML: {error}")
    try:
        return etree.fromstring(data, parser=_LXML_PARSER)
    except etree.XMLSyntaxError as error:
        return RecordError(name, error.lineno, "document", f"not well-formed XML: {error.msg}")


def read_acos(spec: FamilySpec, data: bytes, name: str) -> Iterator[PlanRecord | RecordError]:
    root = _parse(data, name)
    if isinstance(root, RecordError):
        yield root
        return
    paths = _Paths(spec.format.get("namespace", ""))
    if root.tag != paths.tag(spec.format["root"]):
        yield RecordError(name, root.sourceline, "document", f"root element is {root.tag}, expected {paths.tag(spec.format['root'])}")
        return
    plan_key = (paths.read(root, spec.kinds["plan"].source["key"])[0] or "").strip()
    if not plan_key:
        yield RecordError(name, root.sourceline, "plan", f"plan has no {spec.kinds['plan'].source['key']}")
        return
    record = PlanRecord(spec.family, plan_key, source=name, original=Original(name.rsplit("/", 1)[-1], "application/xml", data))
    consumed: set[tuple[str, str | None]] = set()
    for kind in spec.kinds.values():
        for element in paths.elements(root, kind.source["element"]):
            error = _read_element(spec, kind, element, paths, record, name, consumed)
            if error is not None:
                yield error
                return
    record.losses.extend(_unmapped(root, consumed, name, plan_key))
    yield record


def _read_element(spec: FamilySpec, kind: KindSpec, element: etree._Element, paths: _Paths, record: PlanRecord,
                  name: str, consumed: set[tuple[str, str | None]]) -> RecordError | None:
    key_text, _, _ = paths.read(element, kind.source["key"])
    key = (key_text or "").strip() or f"{kind.name}-{element.sourceline}"
    raw: dict[str, str | None] = {}
    consumed.add((_where(element), None))
    for field in kind.fields:
        value, holder, attribute = paths.read(element, field.column or field.field)
        raw[field.field] = value
        if holder is not None:
            consumed.add((_where(holder), attribute))
    result = parse_row(spec, kind, raw, file=name, line=element.sourceline, plan_key=record.key, key=key)
    record.losses.extend(result.losses)
    if result.row is None:
        if kind.name in ("person", "plan"):
            return RecordError(name, element.sourceline, f"{kind.name} {key}", result.refusal or "", record.key)
        record.losses.append(Loss(name, element.sourceline, f"{kind.name} {key} of plan {record.key}", kind.name, key,
                                  f"record not imported: {result.refusal}"))
        return None
    record.add(result.row)
    return None


def _where(element: etree._Element) -> str:
    """A stable name for a node (lxml proxies come and go, so id() is not one)."""
    return element.getroottree().getpath(element)


def _unmapped(root: etree._Element, consumed: set[tuple[str, str | None]], name: str, plan_key: str) -> list[Loss]:
    """Text and attributes the spec does not read: reported, never silently dropped."""
    losses = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        local = etree.QName(element).localname
        for attribute, value in element.attrib.items():
            if (_where(element), attribute) not in consumed and value.strip():
                losses.append(Loss(name, element.sourceline, f"plan {plan_key}", f"{local}/@{attribute}", value,
                                   "attribute has no mapping in the spec"))
        if (_where(element), None) not in consumed and (element.text or "").strip() and len(element) == 0:
            losses.append(Loss(name, element.sourceline, f"plan {plan_key}", local, element.text or "",
                               "element has no mapping in the spec"))
    return losses


def write_acos(spec: FamilySpec, records: list[PlanRecord]) -> tuple[dict[str, bytes], list[Loss]]:
    paths = _Paths(spec.format.get("namespace", ""))
    files: dict[str, bytes] = {}
    for record in records:
        root = etree.Element(paths.tag(spec.format["root"]), nsmap={None: paths.ns} if paths.ns else None)
        made: dict[tuple[str, str], etree._Element] = {}
        for kind in spec.kinds.values():
            for row in record.rows_of(kind.name):
                element = _new_element(kind, row.values, root, paths, made)
                if element is None:
                    continue
                made[(kind.name, row.key)] = element
                paths.write(element, kind.source["key"], row.key)
                for field in kind.fields:
                    if field.type in ("key", "parent") or (field.column or "").startswith(".."):
                        continue
                    text, _ = format_value(spec, field, row.values.get(field.field))
                    if text != "":
                        paths.write(element, field.column or field.field, text)
        files[f"{record.key}.xml"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return files, []


def _new_element(kind: KindSpec, values: dict, root: etree._Element, paths: _Paths,
                 made: dict[tuple[str, str], etree._Element]) -> etree._Element | None:
    path = kind.source["element"]
    if path == ".":
        return root
    container = root
    steps = path.split("/")
    if "parent_element" in kind.source:
        parent_steps = kind.source["parent_element"].split("/")
        parent_kind = kind.source["parent_kind"]
        parent_field = next(f for f in kind.fields if (f.column or "").startswith(".."))
        container = made.get((parent_kind, str(values.get(parent_field.field))))  # type: ignore[assignment]
        if container is None:
            return None
        steps = steps[len(parent_steps):]
    for step in steps[:-1]:
        child = container.find(paths.tag(step))
        container = child if child is not None else etree.SubElement(container, paths.tag(step))
    return etree.SubElement(container, paths.tag(steps[-1]))
