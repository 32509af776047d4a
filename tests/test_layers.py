"""Layers point only down: services, schemas, models and the outbox's rules never import the web
(Flask, the API, the dashboard, staff login), and models never import services. Imports inside
functions count as much as those at the top of a module."""

import ast
from pathlib import Path

WFAPP = Path(__file__).resolve().parent.parent / "wfapp"
LOWER = ["services", "schemas", "models", "errors.py", "outbox/jobs.py", "outbox/http.py", "outbox/placeholders.py"]
WEB = (
    "flask",
    "flask_login",
    "flask_wtf",
    "werkzeug.wrappers",
    "werkzeug.local",
    "werkzeug.Request",
    "werkzeug.Response",
    "wfapp.api",
    "wfapp.dashboard",
    "wfapp.web",
    "wfapp.auth",
)


def _modules(root: Path, paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        path = root / p
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module the file imports, with its line: `import a.b` and `from a.b import c`
    (also `from a import b`, as a.b: `from wfapp import web` imports wfapp.web)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def violations(paths: list[str], forbidden: tuple[str, ...], root: Path = WFAPP) -> list[str]:
    return sorted(
        {
            f"{path.relative_to(root.parent)}:{line} imports {name}"
            for path in _modules(root, paths)
            for line, name in _imports(path)
            if _within(name, forbidden)
        }
    )


def test_lower_layers_import_nothing_of_the_web():
    assert violations(LOWER, WEB) == []


def test_models_import_no_services():
    assert violations(["models"], ("wfapp.services",)) == []


def test_an_import_inside_a_function_is_caught(tmp_path):
    module = tmp_path / "wfapp" / "services" / "sneaky.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from flask import current_app\n\n    return current_app\n")
    assert violations(["services"], WEB, root=tmp_path / "wfapp") == [
        "wfapp/services/sneaky.py:2 imports flask",
        "wfapp/services/sneaky.py:2 imports flask.current_app",
    ]
