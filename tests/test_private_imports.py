"""No module of the package imports another module's private (underscore) name: a private name is its module's
own business, and a second module that needs it needs a public name instead (issue 23)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hessverify"
#: offenders outside the reports, owned by the estimators and data refactors of this round: remove an entry when its
#: import is gone (the test then says so), never add one
KNOWN: set[tuple[str, str, str]] = set()  # the list of known offenders is empty: keep it so


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(path: Path, root: Path = PACKAGE) -> set[tuple[str, str, str]]:
    """``(file, module, name)`` for every private name ``path`` takes from another module of the package: ``from
    hessverify.x import _name`` and ``x._name`` where ``x`` is an imported module of the package."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(root).as_posix()
    found, modules = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("hessverify", "theory"):
            for alias in node.names:
                if _private(alias.name):
                    found.add((rel, node.module, alias.name))
                else:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("hessverify", "theory"):
                    modules[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in modules):
            found.add((rel, modules[node.value.id], node.attr))
    return found


def test_the_scanner_finds_both_forms(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("from hessverify.b import _hidden, shown\nimport hessverify.c as c\nx = c._inner\ny = c.__doc__\n")
    assert private_imports(path, tmp_path) == {("a.py", "hessverify.b", "_hidden"), ("a.py", "hessverify.c", "_inner")}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_imports_another_modules_private_name(path):
    found = private_imports(path)
    new = found - KNOWN
    assert not new, f"{sorted(new)}: import a public name instead (make it public in its module, or move the code)"


def test_known_offenders_are_still_there():
    """The list of known offenders only shrinks: an entry whose import is gone must be removed."""
    found = set().union(*(private_imports(p) for p in PACKAGE.rglob("*.py")))
    gone = KNOWN - found
    assert not gone, f"{sorted(gone)} no longer occur: remove them from KNOWN"
