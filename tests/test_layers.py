"""Every import in fhirip/ and server/ goes down the layer order of `fhirip.layers`, never up
or sideways: read with `ast`, so an import inside a function or under TYPE_CHECKING counts."""

from __future__ import annotations

import ast
from pathlib import Path

from fhirip.layers import LAYERS, may_import, order_text, place

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [path for top in ("fhirip", "server") for path in sorted((ROOT / top).rglob("*.py"))]

# Imports that break the order and are known: (importing file, imported module) → why it is
# still there. Every entry is a debt; the test fails when one is no longer needed.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()  # a package, with or without __init__


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in the file, wherever it stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:  # `from package import module` imports the module
                dotted = f"{base}.{alias.name}"
                found.add((node.lineno, dotted if is_module(dotted) else base))
    return sorted(found)


def test_every_module_has_a_layer() -> None:
    unplaced = [str(path.relative_to(ROOT)) for path in SOURCES if place(module_name(path)) is None]
    assert not unplaced, f"modules in no layer of fhirip/layers.py: {unplaced}"


def test_every_layer_names_modules_that_exist_once() -> None:
    named = [package for layer in LAYERS for package in layer.packages]
    assert len(named) == len(set(named)), "a package in two layers"
    assert [package for package in named if not is_module(package)] == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    broken, used = [], set()
    for path in SOURCES:
        importer = module_name(path)
        for line, imported in imports_of(path):
            if may_import(importer, imported):
                continue
            key = (str(path.relative_to(ROOT)), imported)
            if key in EXCEPTIONS:
                used.add(key)
                continue
            own, other = place(importer), place(imported)
            assert own is not None and other is not None
            where = "above" if other[0] < own[0] else "beside"
            broken.append(f"{key[0]}:{line} imports {imported}: {own[2]} (layer {own[1].name}) may not "
                          f"import {other[2]} (layer {other[1].name}, {where} it)")
    order = order_text()
    assert not broken, "\n".join(broken) + f"\n\nThe layers, top first (fhirip/layers.py):\n{order}"
    assert used == set(EXCEPTIONS), f"exceptions no longer needed: {sorted(set(EXCEPTIONS) - used)}"


def test_the_rule_catches_an_import_upwards() -> None:
    # The store may not know search; search may use the store; siblings only where allowed.
    assert not may_import("fhirip.store.store", "fhirip.search.index")
    assert may_import("fhirip.search.index", "fhirip.store.schema")
    assert not may_import("fhirip.search.index", "fhirip.validation.fhirpath")
    assert may_import("fhirip.operations.render", "fhirip.context")
    assert not may_import("fhirip.model.resources", "fhirip.store")
    assert [layer.name for layer in LAYERS][0] == "entry" and LAYERS[-1].name == "base"


def test_the_readme_shows_the_order() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = [line.split(":")[0] for line in readme.splitlines()
             if line.split(":")[0] in {layer.name for layer in LAYERS} and line.split(":")[0] + ": " in line]
    assert shown == [layer.name for layer in LAYERS], "README's Layout shows the layers otherwise than fhirip/layers.py"
