"""The one-way flow of docs/architecture.md, enforced on the source: which package may
import which, and no module reaching into another module's private names."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "experiments", "analysis")
#: what each layer may import of the project (prefix match on dotted module names)
ALLOWED = {
    "models": ("models",),
    "experiments": ("models", "experiments"),
    # analysis reads records and definitions (the table registry, run configs, dataset specs),
    # builds models from the zoo (probes); it never plans, launches or trains runs
    "analysis": ("models", "analysis", "experiments.tables", "experiments.config", "experiments.records",
                 "experiments.data", "experiments.run", "experiments.recipes"),
    "cli": ("models", "experiments", "analysis"),
}
PROJECT = PACKAGES + ("cli",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return files + [p for p in (ROOT / "cli.py",) if p.exists()]


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The absolute module names an import statement names (relative ones resolved against
    the importing module's package: level 1 = that package, 2 = its parent, ...)."""
    prefix = node.module or ""
    if node.level:
        pkg = module if _is_package(module) else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            pkg = pkg.rpartition(".")[0]
        prefix = f"{pkg}.{node.module}" if node.module else pkg
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]


def _is_package(module: str) -> bool:
    return (ROOT / Path(*module.split(".")) / "__init__.py").exists()


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every import of the file, nested ones included."""
    module = _module_name(path)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = _resolve(module, node)
            out.append((node.lineno, names[0], [a.name for a in node.names]))
    return out


def _layer(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way(path):
    layer = _layer(_module_name(path))
    bad = []
    for line, mod, names in _imports(path):
        if _layer(mod) not in PROJECT:
            continue
        targets = [mod] + [f"{mod}.{n}" for n in names if _is_package(mod)]
        if not any(t == a or t.startswith(a + ".") for t in targets for a in ALLOWED[layer]):
            bad.append(f"line {line}: {mod}")
    assert not bad, f"{path.relative_to(ROOT)} ({layer}) imports against docs/architecture.md: {bad}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_of_another_module(path):
    """``from x import _y`` and ``mod._y`` (``mod`` an imported project module) across modules."""
    tree = ast.parse(path.read_text(), str(path))
    module = _module_name(path)
    aliases = {}
    bad = []
    for line, mod, names in _imports(path):
        if _layer(mod) not in PROJECT:
            continue
        for n in names:
            if n.startswith("_") and not n.startswith("__"):
                bad.append(f"line {line}: from {mod} import {n}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)[0]
            for a in node.names:
                if _is_package(base) or (ROOT / Path(*f"{base}.{a.name}".split("."))).with_suffix(".py").exists():
                    aliases[a.asname or a.name] = f"{base}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if _layer(a.name) in PROJECT:
                    aliases[a.asname or a.name.split(".")[0]] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            bad.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    assert not bad, f"{path.relative_to(ROOT)} uses private names of other modules: {bad}"


def test_the_checks_see_violations(tmp_path, monkeypatch):
    """The two checks above on a planted file: an experiments module importing analysis and a
    private name (a check that cannot fail would prove nothing)."""
    pkg = ROOT / "experiments"
    bad = pkg / "_architecture_probe.py"
    bad.write_text("from analysis.tables import md_table\nfrom .data import _canonical\nfrom . import data as D\nD._x\n")
    try:
        with pytest.raises(AssertionError, match="analysis.tables"):
            test_imports_flow_one_way(bad)
        with pytest.raises(AssertionError, match=r"_canonical.*D\._x"):
            test_no_private_name_of_another_module(bad)
    finally:
        bad.unlink()
