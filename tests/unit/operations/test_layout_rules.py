"""Habits that keep the layout (README, Layout; DESIGN.md, Layers): no service imports
another; each layer imports only the layers below it (import statements and `importlib`
strings alike); no module passes 400 lines and no package holds more than 16 modules;
each service is declared once and its consumer files and NATS role are that declaration;
every service's install extra covers what its modules import."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from services import SERVICES

ROOT = Path(__file__).resolve().parents[3]
#: The layers (DESIGN.md, Layers): what each package may import of the project. The
#: composition root (`ops`) and the services may import everything below them.
PACKAGES = ("contracts", "media", "readmodel", "runtime", "intake", "ops", "services")
MAY_IMPORT = {
    "contracts": {"contracts"},
    "media": {"contracts", "media"},
    "readmodel": {"contracts", "readmodel"},
    "runtime": {"contracts", "media", "runtime"},  # media: the hooks media services pass in, profile names
    "intake": {"contracts", "media", "runtime", "intake"},  # media: the verdict reads the source
}
MAX_LINES = 400
MAX_MODULES = 16


def modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in (packages or PACKAGES) for p in (ROOT / pkg).rglob("*.py"))


def imports(path: Path, module_level: bool = False) -> set[str]:
    """Absolute module names imported by `path` (anywhere, or at module level only), and
    every string constant that names a project module (what `importlib` would import)."""
    out = set()
    tree = ast.parse(path.read_text())
    for node in (tree.body if module_level else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif not module_level and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"(contracts|media|readmodel|runtime|intake|ops|services)(\.\w+)+", node.value):
            out.add(node.value)
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


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_layer_imports_only_what_is_below_it(layer):
    bad = [f"{p.relative_to(ROOT)} imports {n}" for p in modules(layer) for n in imports(p)
           if n.split(".")[0] in PACKAGES and n.split(".")[0] not in MAY_IMPORT[layer]]
    assert not bad


def test_the_rule_sees_importlib_strings(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import importlib\nimportlib.import_module('services.transcoder.handler')\n")
    assert "services.transcoder.handler" in imports(sneaky)


def test_no_module_passes_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules(*PACKAGES, "tests", "bench")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_no_package_holds_more_than_16_modules():
    folders = {p.parent for p in modules(*PACKAGES, "tests")}
    crowded = {str(f.relative_to(ROOT)): n for f in folders
               if (n := len([m for m in f.glob("*.py") if m.name not in ("__init__.py", "conftest.py")])) > MAX_MODULES}
    assert not crowded


def test_the_one_list_of_services_names_every_declared_service():
    from ops.services import DECLARED

    found = {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")}
    assert set(SERVICES) == found == set(DECLARED)
    assert all(DECLARED[s].name == s and (ROOT / "services" / s / "__main__.py").exists() for s in SERVICES)


def test_the_consumer_files_are_the_declarations():
    from ops.services import CONSUMERS_DIR, consumer_files

    on_disk = {f"{p.parent.name}/{p.name}": p.read_text() for p in CONSUMERS_DIR.glob("*/*.json")}
    assert on_disk == consumer_files(), "run `tflow definitions` after changing a service's declaration"


def test_each_role_is_its_declaration():
    from ops.natsauth import ROLES, permissions
    from ops.services import DECLARED

    transcoder = permissions(ROLES["transcoder"], "transcoder")
    assert "$JS.API.CONSUMER.MSG.NEXT.JOBS.transcoder_p10" in transcoder["publish"]["allow"]
    assert "jobs.*.task_completed.video_720p.*" in transcoder["publish"]["allow"]
    assert not [s for s in transcoder["publish"]["allow"] if "FINALIZE" in s or "metadata" in s]
    assert set(ROLES) == {n for n, s in DECLARED.items() if s.name != "notifier"} | {"minio"}


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
    files = list((ROOT / "services" / service).rglob("*.py"))
    missing = {}
    for module in _closure(files):
        names = {_norm(d) for d in dists.get(module, [module])}
        if not names & installed:
            missing[module] = sorted(names)
    assert not missing, f"[{service}] lacks {missing}"
