"""Habits that keep the layout: no service imports another, no module passes 400 lines,
the libraries below the services import no service, the one list of services is true,
and every service's install extra covers what its modules import."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "media", "readmodel", "tflow", "services")
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def imports(path: Path, module_level: bool = False) -> set[str]:
    """Absolute module names imported by `path` (anywhere, or at module level only)."""
    out = set()
    tree = ast.parse(path.read_text())
    for node in (tree.body if module_level else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_no_service_imports_another():
    crossings = []
    for path in (ROOT / "services").rglob("*.py"):
        own = path.relative_to(ROOT / "services").parts[0]
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != own:
                crossings.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not crossings


@pytest.mark.parametrize("library", ["contracts", "media", "readmodel", "tflow"])
def test_libraries_below_the_services_import_no_service(library):
    allowed = {"tflow": {"services"}}  # the composition root: the one list of services and `tflow run` by name
    bad = [f"{p.relative_to(ROOT)} imports {n}" for p in (ROOT / library).rglob("*.py") for n in imports(p)
           if n.split(".")[0] == "services" and n not in allowed.get(library, set())]
    assert not bad


def test_media_and_contracts_need_no_settings():
    bad = [f"{p.relative_to(ROOT)} imports {n}" for lib in ("media", "contracts") for p in (ROOT / lib).rglob("*.py")
           for n in imports(p) if n.split(".")[0] in ("tflow", "readmodel")]
    assert not bad


def test_no_module_passes_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_the_one_list_of_services_names_every_service_package():
    found = {p.parent.name for p in (ROOT / "services").glob("*/main.py")}
    assert set(SERVICES) == found and all((ROOT / "services" / s / "__main__.py").exists() for s in SERVICES)


def _requirement_names(extra: str, table: dict) -> set[str]:
    """Distribution names an extra installs, following `transcode-flow[...]` references."""
    names: set[str] = set()
    for req in table["optional-dependencies"][extra]:
        name = req.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        if name == "transcode-flow":
            for inner in req.split("[", 1)[1].rstrip("]").split(","):
                names |= _requirement_names(inner.strip(), table)
        else:
            names.add(name)
    return names


def _closure(start: list[Path]) -> set[str]:
    """Third-party top-level modules imported when `start` is imported (module-level imports,
    followed through every project module). Imports inside functions are deliberate lazy
    ones (e.g. imageio-ffmpeg only where ffmpeg runs, faster-whisper when a model loads)."""
    seen: set[Path] = set()
    third: set[str] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports(path, module_level=True):
            top = name.split(".")[0]
            if top in PACKAGES:
                parts = name.split(".")
                for n in range(len(parts), 0, -1):
                    cand = ROOT.joinpath(*parts[:n])
                    for f in (cand.with_suffix(".py"), cand / "__init__.py"):
                        if f.exists():
                            todo.append(f)
                    if cand.with_suffix(".py").exists() or (cand / "__init__.py").exists():
                        break
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_extra_installs_what_the_service_imports(service):
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {_norm(d.split(">")[0].split("=")[0]) for d in table["dependencies"]}
    installed |= {_norm(n) for n in _requirement_names(service, table)}
    dists = packages_distributions()
    files = list((ROOT / "services" / service).glob("*.py"))
    missing = {}
    for module in _closure(files):
        names = {_norm(d) for d in dists.get(module, [module])}
        if not names & installed:
            missing[module] = sorted(names)
    assert not missing, f"[{service}] lacks {missing}"
