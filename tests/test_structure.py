"""The project's structure rules, as tests that fail the build: no import cycle anywhere; the domain package
(``qaloop/``) imports neither Prefect nor Great Expectations nor the layers above it (``flows``, ``tasks``,
``checks``, ``cli``), not even inside a function; no flow handles frames or the store itself; every flow
module has a deployment in prefect.yaml (the entry points themselves are imported in
tests/flows/test_deployments.py); and a wheel built from the project installs in a fresh virtual
environment where the command, the templates and the migrations work.

Each checker is also run on a small planted tree that breaks its rule, so a checker that could not fail
would fail here.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT

LAYERS = ("qaloop", "cli", "flows", "tasks", "checks")
# What the domain may not import: the orchestrator, the checks' engine, and every layer above it.
NOT_IN_THE_DOMAIN = ("prefect", "great_expectations", "flows", "tasks", "checks", "cli")


def modules(root: Path, packages: tuple[str, ...] = LAYERS) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name (migrations excepted: Alembic runs them)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "versions" in path.parts and "migrations" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at the top or inside a function, with relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Which of the project's modules each module imports."""
    known = modules(root)
    return {
        name: {imported for imported in imports_of(name, path) if imported in known and imported != name}
        for name, path in known.items()
    }


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another, directly or round a circle (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def forbidden_imports(root: Path, packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """Each import under ``packages`` of a module in ``forbidden`` (or below it), as "module imports name"."""
    return sorted(
        f"{name} imports {imported}"
        for name, path in modules(root, packages).items()
        for imported in set(imports_of(name, path))
        if any(imported == banned or imported.startswith(f"{banned}.") for banned in forbidden)
    )


def domain_violations(root: Path) -> list[str]:
    """Each import under ``qaloop/`` of something the domain may not import."""
    return forbidden_imports(root, ("qaloop",), NOT_IN_THE_DOMAIN)


def flows_without_deployment(root: Path) -> list[str]:
    """The flow modules under ``flows/`` that no deployment in prefect.yaml names as its entry point."""
    deployed = {
        d["entrypoint"].split(":")[0] for d in yaml.safe_load((root / "prefect.yaml").read_text())["deployments"]
    }
    return sorted(
        str(path.relative_to(root))
        for path in (root / "flows").glob("*.py")
        if path.name != "__init__.py" and str(path.relative_to(root)) not in deployed
    )


def _plant(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_no_module_imports_itself_round_a_circle() -> None:
    assert import_cycles(import_graph(PROJECT)) == []


def test_the_cycle_checker_finds_a_planted_circle(tmp_path: Path) -> None:
    planted = _plant(
        tmp_path,
        {
            "qaloop/__init__.py": "",
            "qaloop/a.py": "from qaloop.b import x\n",
            "qaloop/b.py": "def f():\n    from qaloop import a  # inside a function counts too\n",
            "qaloop/c.py": "import qaloop.a\n",
        },
    )
    assert import_cycles(import_graph(planted)) == [["qaloop.a", "qaloop.b"]]


def test_the_domain_imports_no_orchestrator_checks_engine_or_layer_above_it() -> None:
    assert domain_violations(PROJECT) == []


def test_the_domain_checker_finds_planted_imports(tmp_path: Path) -> None:
    planted = _plant(
        tmp_path,
        {
            "qaloop/__init__.py": "",
            "qaloop/fine.py": "import pandas\nfrom qaloop import other\n",
            "qaloop/late.py": "def f():\n    import great_expectations as gx\n",
            "qaloop/up.py": "from tasks.cycle import draw\nfrom prefect import flow\n",
        },
    )
    assert domain_violations(planted) == [
        "qaloop.late imports great_expectations",
        "qaloop.up imports prefect",
        "qaloop.up imports prefect.flow",
        "qaloop.up imports tasks.cycle",
        "qaloop.up imports tasks.cycle.draw",
    ]


def test_no_flow_handles_data_frames_itself() -> None:
    # A flow is a sequence of task calls: counting, formatting and frames belong in a task or the domain.
    assert forbidden_imports(PROJECT, ("flows",), ("pandas", "numpy", "sqlalchemy", "qaloop.store")) == []


def test_a_decision_flow_the_sender_and_the_command_start_without_great_expectations() -> None:
    # Importing Great Expectations takes seconds: only what checks data may pay for it (the decision flows
    # started from the UI's forms, the sender and every `qaloop` command's start do not).
    done = subprocess.run(
        [sys.executable, "-c", "import sys, cli.main, flows.move_allocation, flows.send_emails, flows.explain_sample;"
         "print(sorted({m.split('.')[0] for m in sys.modules} & {'great_expectations', 'scipy'}))"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_every_flow_module_has_a_deployment() -> None:
    assert flows_without_deployment(PROJECT) == []


def test_the_deployment_checker_finds_a_flow_without_one(tmp_path: Path) -> None:
    planted = _plant(
        tmp_path,
        {
            "prefect.yaml": yaml.safe_dump({"deployments": [{"name": "a", "entrypoint": "flows/a.py:a"}]}),
            "flows/__init__.py": "",
            "flows/a.py": "",
            "flows/b.py": "",
        },
    )
    assert flows_without_deployment(planted) == ["flows/b.py"]


# Run by the wheel's own interpreter, away from the checkout: where qaloop comes from, and a template of each kind.
FROM_THE_WHEEL = """
import qaloop, cli, report_templates
from qaloop.messaging.compose import render
from qaloop.reporting.render import render_report
print(qaloop.__file__, cli.__file__, report_templates.__file__)
html, text = render("returns_problem", {"authority": "A", "from_name": "Q", "subject": "S", "cycle_ref": "r",
                    "file": "f.xlsx", "status": "quarantined", "filed": [], "held": [], "rejected": []})
assert "f.xlsx" in html and "f.xlsx" in text
"""


def _run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **options)  # type: ignore[call-overload]
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow
def test_a_wheel_installs_in_a_fresh_environment_and_its_command_templates_and_migrations_work(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"  # a copy: building writes build/ and egg-info beside the sources
    skip = shutil.ignore_patterns(".*", "var", "output", "build", "*.egg-info", "tests")
    shutil.copytree(PROJECT, source, ignore=skip)
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)]
    _run([*build, str(source)])
    [wheel] = wheels.glob("qaloop-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python, qaloop = str(venv / "bin" / "python"), str(venv / "bin" / "qaloop")
    # The dependencies come from this environment's site-packages as a plain path: its .pth files (the
    # editable install of this checkout among them) are not read, so qaloop itself comes only from the wheel.
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])

    elsewhere = tmp_path / "elsewhere"  # not the checkout, so nothing can be imported from it
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["QALOOP_DATABASE_URL"] = f"sqlite:///{elsewhere / 'qaloop.db'}"
    found = _run([python, "-c", FROM_THE_WHEEL], cwd=elsewhere, env=env).stdout.split()
    assert all(path.startswith(str(site)) for path in found), found
    assert "init-db" in _run([qaloop, "--help"], cwd=elsewhere, env=env).stdout
    config = elsewhere / "qaloop.yaml"
    config.write_text((PROJECT / "qaloop.yaml").read_text())
    assert "migrated from empty to" in _run([qaloop, "init-db", "--config", str(config)], cwd=elsewhere, env=env).stdout
