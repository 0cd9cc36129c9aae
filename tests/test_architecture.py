"""The shape of the package: data flows one way, and the layers keep to public API.

These read the source with ``ast``; nothing is imported or run. They hold
the measures of the "one transport" redesign in place: no import circle, no
module reaching into the session's private members, no service in the
transport, and a facade that stays a facade.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "leaf_creds"

# The Leaf service modules above the transport.
SERVICES = (
    "_credentials", "_users", "_webhooks", "_app_keys", "_magic_links", "_api_keys", "_oauth",
    "_organizations", "_configurations", "_integrations", "_failed_calls", "_owners",
    "_offboard", "_diagnose",
)  # fmt: skip


def modules() -> Iterator[tuple[str, Path]]:
    """Yield every module of the package as (dotted name, path)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported(name: str, path: Path) -> set[str]:
    """Return the package modules ``name`` imports, TYPE_CHECKING and lazy imports included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("leaf_creds"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("leaf_creds"))
    return found


def graph() -> dict[str, set[str]]:
    """Return the import graph of the package's modules."""
    names = dict(modules())
    return {
        name: {target for target in imported(name, path) if target in names and target != name}
        for name, path in names.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def session_privates() -> set[str]:
    """Return the private members LeafSession defines (methods, properties, attributes)."""
    tree = ast.parse((PACKAGE / "_session.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "LeafSession")
    names = {
        node.name
        for node in cls.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("_")
        and not node.name.startswith("__")
    }
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            names.add(node.attr)
    return names


class TestImports:
    def test_no_import_circle(self) -> None:
        """No two modules of the package import each other, even for typing or lazily."""
        assert [] == cycles(graph())

    def test_the_transport_knows_no_service(self) -> None:
        """The transport imports no service module, nor the session."""
        edges = graph()["leaf_creds._transport"]
        above = {f"leaf_creds.{name}" for name in (*SERVICES, "_session", "_bulk")}
        assert set() == edges & above

    def test_services_do_not_import_the_session(self) -> None:
        """A service holds the transport, never the session."""
        edges = graph()
        assert {} == {
            name: "leaf_creds._session"
            for name in (f"leaf_creds.{service}" for service in SERVICES)
            if "leaf_creds._session" in edges[name]
        }

    def test_cli_commands_do_not_import_back_from_the_cli_package(self) -> None:
        """A command module takes shared helpers from cli._common, not from cli/__init__."""
        edges = graph()
        assert [] == sorted(
            name
            for name in edges
            if name.startswith("leaf_creds.cli.")
            and name != "leaf_creds.cli.__main__"  # `python -m leaf_creds.cli` runs main()
            and "leaf_creds.cli" in edges[name]
        )


class TestPrivateMembers:
    def test_no_module_uses_a_private_member_of_the_session(self) -> None:
        """Only _session.py touches LeafSession's private members: the others use its API."""
        privates = session_privates()
        uses = []
        for name, path in modules():
            if name == "leaf_creds._session":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in privates
                    and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
                ):
                    uses.append(f"{name}:{node.lineno} .{node.attr}")
        assert [] == uses


class TestSizes:
    def test_the_session_stays_a_facade(self) -> None:
        """_session.py holds options, lifecycle and delegation only: 450 lines at most."""
        lines = (PACKAGE / "_session.py").read_text().count("\n")
        assert lines <= 450, f"_session.py has {lines} lines"

    def test_no_module_of_the_fake_is_a_grab_bag(self) -> None:
        """Each module of the fake serves one Leaf service: 600 lines at most."""
        sizes = {
            path.name: path.read_text().count("\n")
            for path in (PACKAGE / "testing").glob("*.py")
        }
        assert {} == {name: size for name, size in sizes.items() if size > 600}


class TestTests:
    def test_no_test_imports_another_test_file(self) -> None:
        """Shared test code lives in tests/helpers.py, tests/cli_helpers.py or conftest."""
        tests = Path(__file__).parent
        found = [
            f"{path.name}: {line.strip()}"
            for path in sorted(tests.rglob("*.py"))
            for line in path.read_text().splitlines()
            if line.startswith(("from tests.test_", "import tests.test_"))
        ]
        assert [] == found
