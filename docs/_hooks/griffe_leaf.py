"""Griffe extensions: what the API reference needs to read leaf_creds's sources.

Griffe reads the package without importing it. Two habits of the package
need help there:

- the docstrings are written for ``help()`` and IDEs, in Google style with
  a few reST habits (``:class:`Name``` roles, ``::`` before an indented
  example). The site renders Markdown, so a role becomes inline code (its
  last dotted part when written ``~a.b.Name``) and ``::`` a single colon;
- the records and options are attrs classes, whose ``__init__`` attrs
  writes at import time. Griffe rebuilds a dataclass's, not an attrs
  class's, so ``Attrs`` does the same for ``@attrs.define``/``frozen``/
  ``mutable``: its signature, and its ``Args:`` matched to real parameters.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|exc|data|mod|obj|const):`(~?)([^`]+)`")
LITERAL = re.compile(r"(\S)::$", re.MULTILINE)
ATTRS_DECORATORS = frozenset(
    f"{module}.{name}"
    for module in ("attrs", "attr")
    for name in ("define", "frozen", "mutable", "s", "attrs")
)


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def markdown(text: str) -> str:
    """Return a docstring's text with its reST roles and ``::`` markers as Markdown."""
    return LITERAL.sub(r"\1:", ROLE.sub(_role, text))


class ReSTRoles(griffe.Extension):
    """Turn reST roles and literal markers into Markdown in every docstring."""

    def on_object(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)


def _attrs_decorator(class_: griffe.Class) -> griffe.Expr | str | None:
    for decorator in class_.decorators:
        value = decorator.value
        if isinstance(value, griffe.Expr) and value.canonical_path in ATTRS_DECORATORS:
            return value
    return None


def _call_arguments(value: object) -> dict[str, Any]:
    if not isinstance(value, griffe.ExprCall):
        return {}
    return {arg.name: arg.value for arg in value.arguments if isinstance(arg, griffe.ExprKeyword)}


def _field_arguments(attribute: griffe.Attribute) -> dict[str, Any] | None:
    """Return the keyword arguments of ``attrs.field(...)``, or None for a plain default."""
    value = attribute.value
    if isinstance(value, griffe.ExprCall) and value.canonical_path in {
        "attrs.field", "attr.ib", "attr.attrib", "attrs.attrib",
    }:
        return _call_arguments(value)
    return None


def _parameters(class_: griffe.Class) -> list[griffe.Parameter]:
    kw_only = str(_call_arguments(_attrs_decorator(class_)).get("kw_only")) == "True"
    parameters = []
    for member in class_.members.values():
        if not isinstance(member, griffe.Attribute) or member.annotation is None:
            continue
        if "property" in member.labels or (
            "class-attribute" in member.labels and "instance-attribute" not in member.labels
        ):
            continue  # a property or a ClassVar, not a field
        field = _field_arguments(member)
        if field is not None and str(field.get("init")) == "False":
            continue
        if field is None:
            default = member.value
        elif "default" in field:
            default = field["default"]
        elif "factory" in field:
            default = griffe.ExprCall(function=field["factory"], arguments=[])
        else:
            default = None
        keyword = kw_only or (field is not None and str(field.get("kw_only")) == "True")
        alias = field.get("alias") if field else None
        # attrs names the argument of a private field without its underscore.
        name = str(alias).strip("'\"") if alias else member.name.lstrip("_")
        parameters.append(
            griffe.Parameter(
                name,
                annotation=member.annotation,
                kind=griffe.ParameterKind.keyword_only
                if keyword
                else griffe.ParameterKind.positional_or_keyword,
                default=default,
                docstring=member.docstring,
            )
        )
    return parameters


def _set_init(class_: griffe.Class) -> None:
    try:
        mro = class_.mro()
    except ValueError:
        mro = []
    parameters: dict[str, griffe.Parameter] = {}
    for parent in [*reversed(mro), class_]:
        if isinstance(parent, griffe.Class) and _attrs_decorator(parent) is not None:
            parameters.update((p.name, p) for p in _parameters(parent))
    ordered = sorted(
        parameters.values(), key=lambda p: p.kind is griffe.ParameterKind.keyword_only
    )
    self = griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)
    init = griffe.Function(
        "__init__",
        lineno=0,
        endlineno=0,
        parent=class_,
        parameters=griffe.Parameters(self, *ordered),
        returns="None",
    )
    class_.set_member("__init__", init)


def _walk(obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
    if obj.canonical_path in seen:
        return
    seen.add(obj.canonical_path)
    if (
        isinstance(obj, griffe.Class)
        and "__init__" not in obj.members
        and _attrs_decorator(obj) is not None
    ):
        _set_init(obj)
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Module | griffe.Class):
            _walk(member, seen)


class Attrs(griffe.Extension):
    """Give every attrs class the ``__init__`` attrs generates for it."""

    def on_package(self, *, pkg: griffe.Module, **_: Any) -> None:
        _walk(pkg, set())
