"""The package rules of ARCHITECTURE.md, checked on the source: who may import whom, and no
circle between packages.

Every module of `src/tradingfloor` is parsed with `ast`. An import counts wherever it is, at
module level or inside a function: one deferred into a function is still a dependency, only
a later one. An import under `if TYPE_CHECKING:` does not count, since it never runs.

A package is the first name under `tradingfloor` (`engine` for `tradingfloor.engine.state`);
the top-level modules (`cli`, `config`, `observability`, ...) are packages of their own.
"""

import ast
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "tradingfloor"
TOP = "tradingfloor"

HELPERS = frozenset({"config", "observability", "outage"})
"""Top-level modules the edges share (settings, metrics, the outage of a dependency): they
import nothing of the platform, and the core never imports them."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "matching": frozenset({"domain"}),
    "risk": frozenset({"domain"}),
    "ledger": frozenset({"domain"}),
    "engine": frozenset({"domain", "matching", "risk", "ledger"}),
    "journal": frozenset({"domain", "engine"}),
    "store": frozenset({"domain"}),
    "marketdata": frozenset({"domain", "outage"}),
    "identity": frozenset({"domain", "store", "config"}),
    "web": frozenset(),  # the browser app's files and the routes that serve them
    **{helper: frozenset() for helper in HELPERS},
}
"""Every package a package may import (besides itself), where ARCHITECTURE.md's table says."""

NEVER_IMPORTS: dict[str, frozenset[str]] = {
    # The roles (shard, projector, their transports) are used by the wiring, never the reverse;
    # the projector role may use `store`, whose read models it writes.
    "service": frozenset({"gateway", "bootstrap", "cli", "bench", "demo"}),
    "gateway": frozenset({"bootstrap", "cli", "journal", "ledger"}),
}

GATEWAY_MAY_IMPORT = frozenset({"domain", "identity", "store", "marketdata", "web", *HELPERS})
"""The packages the gateway uses whole: ARCHITECTURE.md's table, and the helpers."""
GATEWAY_PORT_MODULES = frozenset(
    {
        # The ports and what they carry: commands in, results, refusals and live state out.
        "service.ports",
        "service.sequencer",  # `Result`, and the refusals a submit raises (`Overloaded`, ...)
        "service.projection",  # `status_problem`: the projection's status as a problem
        "service.wire",  # the framing of the local transport (the rate limiter's link)
        "engine.pipeline",  # `AccountSummary`, `PositionView`: the shard's answers
        "matching.order",  # `Order`: a live order as the shard answers it (`LiveOrder`)
        "risk.calendar",  # the trading calendar, for the market clock `/v2/clock` tells
        "settlement.statements",  # statements: read-model data to HTML and PDF, no state
        "compliance.exports",  # exports: the kinds' columns and read-model rows, no state
        "compliance.export_writer",  # exports: rows to CSV or Parquet files, no state
        "compliance.trade_dates",  # exports and reports: New York trade dates as time ranges
        "compliance.quality_report",  # execution-quality reports from read models, no state
    }
)
"""The only modules of the core and of `service` the gateway may import: the gateway never
reaches into the engine's or a role's internals (`engine.engine`, `matching.book`, ...)."""

COMPOSITION_ROOT = "bootstrap"
COMPOSITION_USERS = frozenset({"cli"})
"""`bootstrap` wires every role together; only the command line imports it."""


# ---------------------------------------------------------------------- reading the source


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([TOP, *parts])


def all_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """The modules a module's source imports (`from a import b` names `a.b` when it is a
    module, else `a`), skipping the body of `if TYPE_CHECKING:`."""

    def __init__(self, module: str, is_package: bool, known: Iterable[str]) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.known = set(known)
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            self.found.add(submodule if submodule in self.known else source)


def imports_of(module: str, source: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """The platform's modules `source` (the text of `module`) imports."""
    visitor = _Imports(module, is_package, known)
    visitor.visit(ast.parse(source))
    return {name for name in visitor.found if name == TOP or name.startswith(TOP + ".")}


def package_of(module: str) -> str:
    """`engine` for `tradingfloor.engine.state`; `cli` for `tradingfloor.cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def inside(module: str) -> str:
    """The module's name below the top: `engine.state`."""
    return module.partition(".")[2]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Every module of the platform and the platform's modules it imports."""
    modules = all_modules(root)
    return {
        module: imports_of(module, path.read_text(), path.name == "__init__.py", modules)
        for module, path in modules.items()
    }


# ---------------------------------------------------------------------- the rules


def broken_rules(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a package rule, as `importer -> imported: rule`."""
    broken = []
    for module, imported in sorted(graph.items()):
        package = package_of(module)
        for target in sorted(imported):
            other = package_of(target)
            if other in ("", package):
                continue
            problem = _problem(package, other, inside(target))
            if problem is not None:
                broken.append(f"{module} -> {target}: {problem}")
    return broken


def _problem(package: str, other: str, target: str) -> str | None:
    allowed = MAY_IMPORT.get(package)
    if allowed is not None and other not in allowed:
        return f"{package} may import only {sorted(allowed) or 'itself'}"
    if other in NEVER_IMPORTS.get(package, ()):
        return f"{package} never imports {other}"
    if (
        package == "gateway"
        and other not in GATEWAY_MAY_IMPORT
        and target not in GATEWAY_PORT_MODULES
    ):
        return "the gateway uses the core and the roles only through the ports"
    if other == COMPOSITION_ROOT and package not in COMPOSITION_USERS:
        return f"only {sorted(COMPOSITION_USERS)} imports the composition root"
    return None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        edges = packages.setdefault(package_of(module), set())
        edges.update(package_of(target) for target in imported)
    for package, edges in packages.items():
        edges.discard(package)
        edges.discard("")
    packages.pop("", None)
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of `graph` (its strongly connected parts of more than one node, or a node
    that imports itself), each sorted; found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1 or node in graph.get(node, ()):
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _circle_imports(graph: dict[str, set[str]], circle: list[str]) -> list[str]:
    """The module imports that make a circle of packages, for the failure message."""
    members = set(circle)
    return [
        f"{module} -> {target}"
        for module, imported in sorted(graph.items())
        for target in sorted(imported)
        if package_of(module) in members
        and package_of(target) in members
        and package_of(target) != package_of(module)
    ]


# ---------------------------------------------------------------------- the platform


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_package_keeps_to_its_imports(graph: dict[str, set[str]]) -> None:
    broken = broken_rules(graph)
    assert not broken, "imports that break ARCHITECTURE.md's rules:\n" + "\n".join(broken)


def test_no_circle_between_packages(graph: dict[str, set[str]]) -> None:
    found = cycles(package_graph(graph))
    details = [f"{circle}:\n  " + "\n  ".join(_circle_imports(graph, circle)) for circle in found]
    assert not found, "packages that import each other:\n" + "\n".join(details)


def test_no_circle_between_modules(graph: dict[str, set[str]]) -> None:
    """Within a package too: a circle of modules works only in some import orders."""
    modules = {module: imported - {module} for module, imported in graph.items()}
    found = cycles(modules)
    assert not found, "modules that import each other:\n" + "\n".join(map(str, found))


def test_the_rules_name_real_packages(graph: dict[str, set[str]]) -> None:
    """A rule about a package that was renamed would hold for nothing."""
    packages = {package_of(module) for module in graph}
    named = set(MAY_IMPORT) | set(NEVER_IMPORTS) | {COMPOSITION_ROOT} | COMPOSITION_USERS
    for allowed in [*MAY_IMPORT.values(), *NEVER_IMPORTS.values(), GATEWAY_MAY_IMPORT]:
        named |= allowed
    named |= {package_of(f"{TOP}.{module}") for module in GATEWAY_PORT_MODULES}
    assert named - packages == set()
    modules = {inside(module) for module in graph}
    assert GATEWAY_PORT_MODULES - modules == set()


# ---------------------------------------------------------------------- the checks themselves


def _graph_of(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    root = tmp_path / TOP
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return import_graph(root)


def test_an_import_in_a_function_counts_and_one_for_type_checking_does_not(
    tmp_path: Path,
) -> None:
    graph = _graph_of(
        tmp_path,
        {
            "__init__.py": "",
            "domain/__init__.py": "",
            "domain/prices.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from tradingfloor.engine import state
                else:
                    from tradingfloor.store import queries
                def later():
                    from ..gateway import deps
                    import tradingfloor.matching.book
            """,
            "engine/__init__.py": "",
            "engine/state.py": "",
            "store/__init__.py": "",
            "store/queries.py": "",
            "gateway/__init__.py": "",
            "gateway/deps.py": "",
            "matching/__init__.py": "",
            "matching/book.py": "",
        },
    )
    assert graph["tradingfloor.domain.prices"] == {
        "tradingfloor.store.queries",
        "tradingfloor.gateway.deps",
        "tradingfloor.matching.book",
    }
    assert len(broken_rules(graph)) == 3


def test_the_gateway_reaching_into_the_engine_is_found(tmp_path: Path) -> None:
    graph = _graph_of(
        tmp_path,
        {
            "gateway/routes.py": """
                from tradingfloor.engine.pipeline import PositionView
                from tradingfloor.engine.engine import Engine
                from tradingfloor.service.ports import ShardPort
                from tradingfloor.service.shard import ShardRole
            """,
            "engine/pipeline.py": "",
            "engine/engine.py": "",
            "service/ports.py": "",
            "service/shard.py": "",
        },
    )
    assert [line.split(":")[0] for line in broken_rules(graph)] == [
        "tradingfloor.gateway.routes -> tradingfloor.engine.engine",
        "tradingfloor.gateway.routes -> tradingfloor.service.shard",
    ]


def test_a_circle_of_packages_is_found(tmp_path: Path) -> None:
    graph = _graph_of(
        tmp_path,
        {
            "service/cli.py": "from tradingfloor.bootstrap import roles\n",
            "bootstrap/roles.py": "from tradingfloor.gateway import app\n",
            "gateway/app.py": "from tradingfloor.service import ports\n",
            "service/ports.py": "",
            "store/queries.py": "",
        },
    )
    assert cycles(package_graph(graph)) == [["bootstrap", "gateway", "service"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ---------------------------------------------------------------------- what a plain install has

IMPORT_NAMES = {"PyJWT": "jwt", "argon2-cffi": "argon2", "nats-py": "nats", "fpdf2": "fpdf"}
"""Distributions whose import name is not their name with `-` as `_`, lower-cased."""


def test_the_package_imports_only_what_its_dependencies_install() -> None:
    """`pip install .` (no dev extras) installs `dependencies` alone: a module of the package
    that imports a test or lint tool fails for a user who never installed it."""
    import re
    import sys
    import tomllib

    project = tomllib.loads((ROOT.parents[1] / "pyproject.toml").read_text())["project"]
    installed = set()
    for requirement in project["dependencies"]:
        name = re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0]
        installed.add(IMPORT_NAMES.get(name, name.lower().replace("-", "_")))
    imported: dict[str, str] = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != TOP and top not in sys.stdlib_module_names:
                    imported.setdefault(top, str(path.relative_to(ROOT)))
    missing = {top: where for top, where in imported.items() if top not in installed}
    assert not missing, f"imported but not in [project] dependencies: {missing}"
