"""MkDocs hook: write the CLI reference from ``leaf-creds``'s own argparse parser.

``docs/reference/cli.md`` holds the marker below; at build time it is
replaced by one section per command and subcommand, read from the parser
that ``leaf-creds`` runs, so the reference cannot drift from the command.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- leaf-creds commands -->"
PAGE = "reference/cli.md"
WIDTH = 78  # the usage lines' width, fixed so that a build never depends on the terminal
CONNECTION = "connection"  # the title of the options every command that talks to Leaf shares


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace the marker of the CLI reference page with the generated sections."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{PAGE} lost its marker {MARKER!r}")
    return markdown.replace(MARKER, render())


def render() -> str:
    """Return the Markdown of every command of ``leaf-creds``."""
    from leaf_creds.cli import _parser

    parser = _parser()
    parts = [_section(parser, depth=2, root=True)]
    parts += [_section(sub, depth=1 + len(path)) for path, sub in _commands(parser, [])]
    return "\n".join(parts)


def _commands(
    parser: argparse.ArgumentParser, path: list[str]
) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield [*path, name], sub
                yield from _commands(sub, [*path, name])


def _section(parser: argparse.ArgumentParser, *, depth: int, root: bool = False) -> str:
    lines = [f"{'#' * depth} `{parser.prog}`", ""]
    if parser.description:
        lines += [_escape(parser.description), ""]
    formatter = argparse.HelpFormatter(prog=parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    lines += ["```text", formatter.format_help().strip(), "```", ""]
    shares_connection = False
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS]
        if group.title == CONNECTION and not root:
            shares_connection = bool(actions)
            continue
        rows = [_row(formatter, a) for a in actions if not isinstance(a, argparse._HelpAction)]
        if not rows:
            continue
        if group.title == CONNECTION:  # the root's, the one the commands link to
            lines += [f"{'#' * (depth + 1)} Connection options", ""]
        else:
            lines += [f"**{(group.title or '').capitalize()}**", ""]
        lines += ["| Argument | Description |", "|---|---|", *rows, ""]
    if shares_connection:
        lines += ["Also takes the [connection options](#connection-options).", ""]
    # The commands repeat the root's epilog (how to authenticate): said once, at the top.
    if parser.epilog and (root or parser.epilog != _root_epilog()):
        lines += [_escape(parser.epilog), ""]
    return "\n".join(lines)


def _root_epilog() -> str:
    from leaf_creds.cli._common import AUTH_HELP

    return AUTH_HELP


def _row(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    if isinstance(action, argparse._SubParsersAction):
        names = ", ".join(f"`{name}`" for name in action.choices)
        return f"| `{action.metavar or action.dest}` | one of {names}, below |"
    invocation = formatter._format_action_invocation(action)
    text = formatter._expand_help(action) if action.help else ""
    return f"| `{invocation}` | {_escape(text)} |"


def _escape(text: str) -> str:
    """Keep argparse's plain text plain in Markdown: a table cell, no emphasis, no HTML."""
    for char in ("\\", "|", "*", "_", "[", "]", ">"):
        text = text.replace(char, "\\" + char)
    return " ".join(text.replace("<", "&lt;").split())
