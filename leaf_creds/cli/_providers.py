"""``leaf-creds providers``: the registered providers, as JSON or as a table."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .. import Registry, default_registry
from ._common import EXIT_OK, Commands

__all__ = ["add_parser", "print_providers", "providers_json", "run"]


def add_parser(commands: Commands) -> None:
    """Add ``providers``."""
    sub = commands.add(
        "providers", run,
        "list the registered providers and their create fields: a table on a terminal, "
        "else JSON",
        connection=False,
    )  # fmt: skip
    sub.add_argument("--json", action="store_true", help="print JSON even on a terminal")


def run(args: argparse.Namespace) -> int:
    """Print the providers: a table for a person at a terminal, else JSON."""
    table = sys.stdout.isatty() and not args.json
    print_providers(providers_json(default_registry()), sys.stdout, table=table)
    return EXIT_OK


def providers_json(registry: Registry) -> list[dict[str, Any]]:
    """Return every provider with its create fields, as ``providers`` prints them."""
    return [
        {
            "slug": resource.slug,
            "name": resource.name,
            "fields": [
                {
                    "name": field.wire,
                    "required": field.required,
                    "secret": field.secret,
                    **({} if field.required else {"default": _plain(field.default)}),
                }
                for field in resource.fields
            ],
        }
        for resource in registry
    ]


def _plain(value: Any) -> Any:
    # Defaults are None or enum members (client environments): JSON-able as values.
    return getattr(value, "value", value)


def print_providers(listing: list[dict[str, Any]], out: TextIO, *, table: bool) -> None:
    """Print the listing on ``out``: indented JSON, or a table for a person at a terminal.

    The table has one row a provider; a secret field is marked ``*``, an
    optional one shows its default. On a terminal of 80 columns every slug
    and field name shows whole.
    """
    if not table:
        out.write(json.dumps(listing, indent=2) + "\n")
        return
    rows = [
        [
            provider["slug"],
            provider["name"],
            ", ".join(_field(f) for f in provider["fields"] if f["required"]),
            ", ".join(_field(f) for f in provider["fields"] if not f["required"]),
        ]
        for provider in listing
    ]
    header = ["provider", "name", "required fields", "optional fields"]
    note = "* a secret: printed as \"***\" unless --show-secrets. --json prints all of it."
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the cli extra is not installed: plain text
        lines = [header, *rows]
        widths = [max(len(row[i]) for row in lines) for i in range(len(header) - 1)]
        for row in lines:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
        out.write(note + "\n")
        return
    from rich.text import Text

    # The slug and the field names are what a user types: never cut. So the
    # name goes under the slug, which leaves the fields room at 80 columns,
    # and a column too narrow even so folds a name onto the next line.
    grid = Table(caption=note)
    for title in ("provider", *header[2:]):
        grid.add_column(title, overflow="fold")
    for slug, name, required, optional in rows:
        grid.add_row(Text(slug) + Text("\n" + name, style="dim"), required, optional)
    Console(file=out, highlight=False).print(grid)


def _field(field: dict[str, Any]) -> str:
    text = str(field["name"]) + ("*" if field["secret"] else "")
    default = field.get("default")
    return text if default is None else f"{text}={default}"
