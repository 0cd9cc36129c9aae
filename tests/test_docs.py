"""The documentation site: every public name has its reference, the CLI reference is generated."""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# The modules whose __all__ is public API, and the file that defines each one's.
PUBLIC_MODULES = {
    "leaf_creds": "leaf_creds/__init__.py",
    "leaf_creds.testing": "leaf_creds/testing/__init__.py",
    "leaf_creds.airflow": "leaf_creds/airflow/__init__.py",
    "leaf_creds.otel": "leaf_creds/otel.py",
    "leaf_creds.repair": "leaf_creds/repair/__init__.py",
}


def public_names(path: str) -> list[str]:
    """Return a module's __all__, read without importing it (Airflow need not be installed)."""
    for node in ast.parse((ROOT / path).read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            names: list[str] = ast.literal_eval(node.value)
            return names
    raise AssertionError(f"{path} has no __all__")


def referenced() -> set[str]:
    """Return every dotted name an API reference page renders with `::: name`."""
    pages = (DOCS / "reference" / "api").glob("*.md")
    return {m for page in pages for m in re.findall(r"^::: (\S+)", page.read_text(), re.M)}


def cli_reference() -> ModuleType:
    """Import the MkDocs hook that writes the CLI reference."""
    spec = importlib.util.spec_from_file_location(
        "cli_reference", DOCS / "_hooks" / "cli_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestApiReference:
    def test_every_public_name_is_rendered(self) -> None:
        """Each name of a public module's __all__ has its `:::` entry on a reference page."""
        shown = referenced()
        missing = [
            f"{module}.{name}"
            for module, path in PUBLIC_MODULES.items()
            for name in public_names(path)
            if name != "__version__" and f"{module}.{name}" not in shown
        ]

        assert [] == missing

    def test_no_entry_names_a_private_object(self) -> None:
        """A reference entry names a public path, never a private module's."""
        assert [] == sorted(name for name in referenced() if "._" in name)


class TestCliReference:
    def test_every_command_has_a_section(self) -> None:
        """The generated reference has a heading for every command and subcommand."""
        from leaf_creds.cli import _parser

        hook = cli_reference()
        text = hook.render()
        headings = set(re.findall(r"^#+ `(leaf-creds[^`]*)`$", text, re.M))
        commands = {" ".join(["leaf-creds", *path]) for path, _ in hook._commands(_parser(), [])}

        assert commands <= headings
        assert "leaf-creds alerts rotate-secret" in headings

    def test_the_page_keeps_its_marker(self) -> None:
        """The CLI page holds the marker the hook replaces, so the build can fill it."""
        hook = cli_reference()

        assert hook.MARKER in (DOCS / hook.PAGE).read_text()

    def test_connection_options_are_said_once(self) -> None:
        """The shared connection options get one section, which the commands link to."""
        text = cli_reference().render()

        assert 1 == text.count("Connection options\n")
        assert "[connection options](#connection-options)" in text


class TestBuild:
    def test_docs_extra_has_the_site_tools(self) -> None:
        """The docs extra installs MkDocs, Material and mkdocstrings' Python handler."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        docs = " ".join(project["optional-dependencies"]["docs"])

        assert {"mkdocs", "mkdocs-material", "mkdocstrings[python]"} <= set(
            re.findall(r"[\w-]+(?:\[\w+\])?", docs)
        )

    def test_ci_builds_the_site_strictly(self) -> None:
        """.ci/run installs the docs extra and builds the site with --strict."""
        ci = (ROOT / ".ci" / "run").read_text()

        assert re.search(r"pip install -q -e '\.\[docs\]' && .*mkdocs build --strict", ci)
