"""The files of ``leaf-creds invite``: the ``--users`` file, and the links file.

A links file holds one JSON line per user, as ``invite`` writes them; it is
created ``0600``, since whoever holds a link can attach credentials to its
user, and it is the ``--resume`` file of a rerun.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import IO

from .. import ValidationError
from .._resource import user_path
from ._common import UsageError

__all__ = ["checked_users", "open_links", "read_invited", "user_lines"]


def read_invited(path: str) -> tuple[set[str], int]:
    """Return the users a links file records as invited, and its unreadable lines.

    A missing file records none.
    """
    invited: set[str] = set()
    unreadable = 0
    try:
        stream = open(path, encoding="utf-8")  # noqa: SIM115
    except FileNotFoundError:
        return invited, 0
    except OSError as exc:
        raise UsageError(f"cannot read --resume {path}: {exc.strerror}") from None
    with stream:
        for text in stream:
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                unreadable += 1  # a half line of a killed run
                continue
            if not isinstance(line, dict) or not isinstance(line.get("leafUserId"), str):
                unreadable += 1
                continue
            if line.get("ok", True) is not False and line.get("link"):
                invited.add(line["leafUserId"])
    return invited, unreadable


def user_lines(path: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, user id)`` of a ``--users`` file, past blank and ``#`` lines."""
    try:
        with open(path, encoding="utf-8") as stream:
            for number, text in enumerate(stream, 1):
                user_id = text.strip()
                if user_id and not user_id.startswith("#"):
                    yield number, user_id
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --users {path}: {exc}") from None


def checked_users(path: str) -> int:
    """Check every line of a --users file before anything is sent; return how many."""
    bad = []
    count = 0
    for number, user_id in user_lines(path):
        try:
            user_path(user_id)
        except ValidationError as exc:
            bad.append(f"{path}:{number}: {exc}")
        count += 1
    if bad:
        for line in bad[:20]:
            sys.stderr.write(line + "\n")
        raise UsageError(f"{len(bad)} bad line(s) in {path}; nothing was sent")
    return count


def open_links(path: str, *, append: bool) -> IO[str]:
    """Open a links file for writing, readable by its owner only (0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        os.fchmod(fd, 0o600)  # an older file: links are not for other users to read
    stream = os.fdopen(fd, "w", encoding="utf-8")
    if append and info.st_size:
        with open(path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            if existing.read(1) != b"\n":
                stream.write("\n")  # end a killed run's half line
    return stream
