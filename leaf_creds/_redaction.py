"""Masking secrets: by key in JSON data and text, by value in whatever a server echoes.

Two ways a secret is found, used together:

- **by structure**: the value under a secret-named key (``password``,
  ``client_secret``, ``accessToken``, ``Authorization``...; see
  :func:`is_secret_key`) is masked wherever it is, in parsed JSON
  (:func:`mask_secrets`) or in text that holds JSON, a query string, a
  Java map or header lines (:func:`mask_text`). This needs no knowledge of
  the secret, so it covers a short one and one we never sent (a provider's
  ``access_token`` in Leaf's troubleshooting log);
- **by value**: each secret of the request is masked in the forms a server
  echoes it in: verbatim, JSON-escaped (``\\"``, ``\\uXXXX``, at any
  escaping depth), percent-encoded, as an HTML entity, and a prefix (or
  suffix) of it at a cut end of the text (:func:`redact`).

Masking too much is the safe error: a value under a key that merely looks
secret is masked too.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ._fields import MASK

__all__ = ["is_secret_key", "mask_secrets", "mask_text", "redact"]

# A secret shorter than this is masked by structure only, and as a whole
# quoted JSON string: searched for anywhere, it would mask ordinary words.
_SECRET_MIN = 4
# The shortest piece of a secret masked at a cut end (a truncated echo).
_FRAGMENT_MIN = 4

# Built from the secret fields of every registered provider (password,
# clientSecret, sharedSecret, accessToken, refreshToken, authToken, apiKey,
# accessKey, subscriptionKey, privateKey, key, initializationVector,
# sessionId) and the generic names of HTTP and OAuth (Authorization, Cookie,
# client_secret, id_token...). Compared on the lower-cased name without
# "_", "-" or ".", so every spelling matches.
_SECRET_PARTS = re.compile(
    r"passw|passphrase|pwd|secret|token|key|private|vector|authoriz|cookie|session|signature"
)
# Names holding a secret part that are not secrets, and that an error
# answer needs shown (errorKey names the error); _fields.py agrees on the rest.
_NOT_SECRET = frozenset({"errorkey", "messagekey", "publickey", "tokentype", "tokenmetadata"})
# Spring's fieldErrors may carry the refused value next to the field's name.
_FIELD_NAMES = ("field", "property", "name", "path")
_VALUE_NAMES = frozenset({"rejectedvalue", "invalidvalue", "value"})
_SEPARATORS = re.compile(r"[\s_.\-]")


def is_secret_key(name: object) -> bool:
    """Tell whether a JSON key, header or parameter name looks like it holds a secret.

    Case, ``_``, ``-`` and ``.`` do not matter: ``client_secret``,
    ``clientSecret`` and ``X-Client-Secret`` are all secret.
    """
    if not isinstance(name, str):
        return False
    folded = _SEPARATORS.sub("", name.lower())
    return folded not in _NOT_SECRET and bool(_SECRET_PARTS.search(folded))


def mask_secrets(value: Any, *, secrets: Collection[str] = ()) -> Any:
    """Return JSON data with the values under secret-looking keys as ``'***'``, at any depth.

    Data nested too deeply to walk (a hostile body can be, under its size
    cap) is masked whole: nothing in it is shown.

    Args:
        value: Parsed JSON (dicts, lists, scalars); it is not changed.
        secrets: Known secrets: a string equal to one is masked under any key.
    """
    try:
        return _mask(value, secrets)
    except RecursionError:
        return MASK


def _mask(value: Any, secrets: Collection[str]) -> Any:
    if isinstance(value, Mapping):
        masked = {
            key: MASK if item is not None and is_secret_key(key) else _mask(item, secrets)
            for key, item in value.items()
        }
        refused = next((value[name] for name in _FIELD_NAMES if name in value), None)
        if is_secret_key(refused):
            for key in masked:
                if isinstance(key, str) and key.lower() in _VALUE_NAMES and masked[key] is not None:
                    masked[key] = MASK
        return masked
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    if isinstance(value, str) and value in secrets:
        return MASK
    return value


# -- by structure, in text ---------------------------------------------------

_KEY = r"[A-Za-z_$@][\w.\-$@]{0,100}"
# "key": "value" (or 'key': 'value', or "key" = "value") at any escaping
# depth: the quotes around the value carry the same backslashes as the key's.
# A value cut off before its closing quote runs to the end of the text.
_QUOTED = re.compile(
    rf"""(?P<esc>\\*)(?P<q>["'])(?P<key>{_KEY})(?P=esc)(?P=q)\s*[:=]\s*"""
    r"""(?:(?P=esc)(?P=q)(?P<str>.*?)(?:(?<!\\)(?P=esc)(?P=q)|\Z)"""
    r"""|(?P<bare>(?!(?:null|true|false)\b)[\w.+\-]+))""",
    re.S,
)
_AUTH_VALUE = r"(?i:bearer|basic|token|digest)\s+[^\s&,;)}\]\"'\\]+"
# key=value: a query string or form body, Java's Map.toString(), a log line.
_ASSIGNED = re.compile(
    rf"""(?<![\w.\-$@"'\\])(?P<key>{_KEY})=(?P<val>{_AUTH_VALUE}|\[[^\]]*\]|"[^"]*"|[^\s&,;)}}\]"'\\]+)"""
)
# Key: value as a header line (or a YAML one).
_HEADER_LINE = re.compile(
    r"(?m)^(?P<pre>[ \t]*)(?P<key>[A-Za-z][\w\-]*)[ \t]*:[ \t]*(?P<val>[^\r\n]+)"
)
# A bearer or basic credential anywhere, "Authorization: Bearer ..." in a sentence.
_AUTH_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)\s+(?P<val>[A-Za-z0-9\-._~+/]{8,}=*)")


def _masked_quoted(match: re.Match[str]) -> str:
    if not is_secret_key(match["key"]):
        return match[0]
    if match["str"] is not None:
        start, end = match.span("str")
    else:
        start, end = match.span("bare")
    whole = match.start()
    return match[0][: start - whole] + MASK + match[0][end - whole :]


def _masked_value(match: re.Match[str]) -> str:
    if not is_secret_key(match["key"]):
        return match[0]
    start, end = match.span("val")
    whole = match.start()
    return match[0][: start - whole] + MASK + match[0][end - whole :]


def mask_text(text: str) -> str:
    """Mask the values of secret-looking keys in text: JSON, query strings, headers.

    Finds ``"key": "value"`` (at any JSON escaping depth, and cut off at the
    end), ``'key': 'value'``, ``key=value``, ``Key: value`` header lines and
    ``Bearer``/``Basic`` credentials; the rest of the text is kept as it is.
    """
    if not text:
        return text
    # Each pattern needs a character most messages lack: skip it then.
    if '"' in text or "'" in text:
        text = _QUOTED.sub(_masked_quoted, text)
    if "=" in text:
        text = _ASSIGNED.sub(_masked_value, text)
    if ":" in text:
        text = _HEADER_LINE.sub(_masked_value, text)
    return _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {MASK}", text)


# -- by value: the forms an echo takes ----------------------------------------

# One unit of an encoded text: a \uXXXX or short JSON escape (any number of
# backslashes: JSON inside JSON), a run of %XX bytes, an HTML character
# reference. Anything else is one character standing for itself.
_UNIT = re.compile(
    r"(?P<u>\\+u[0-9a-fA-F]{4})"
    r"|(?P<e>\\+[\"\\/bfnrt'])"
    r"|(?P<p>(?:%[0-9a-fA-F]{2})+)"
    r"|(?P<h>&(?:\#[0-9]{1,7}|\#[xX][0-9a-fA-F]{1,6}|quot|amp|lt|gt|apos);)"
)
_SHORT_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ENTITIES = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "apos": "'"}
_ELLIPSES = ("...", "\u2026")


def _decoded(text: str, plus_is_space: bool) -> tuple[str, list[tuple[int, int]]]:
    """Decode every escape in ``text``; return the result and each character's span in it."""
    chars: list[str] = []
    spans: list[tuple[int, int]] = []

    def plain(start: int, end: int) -> None:
        for index in range(start, end):
            char = text[index]
            chars.append(" " if plus_is_space and char == "+" else char)
            spans.append((index, index + 1))

    position = 0
    for match in _UNIT.finditer(text):
        plain(position, match.start())
        position = match.end()
        unit, start = match[0], match.start()
        if match["u"]:
            chars.append(chr(int(unit[-4:], 16)))
            spans.append((start, position))
        elif match["e"]:
            chars.append(_SHORT_ESCAPES.get(unit[-1], unit[-1]))
            spans.append((start, position))
        elif match["p"]:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            first = start
            for offset in range(start, position, 3):
                out = decoder.decode(bytes([int(text[offset + 1 : offset + 3], 16)]))
                if out:
                    chars.extend(out)
                    spans.extend([(first, offset + 3)] * len(out))
                    first = offset + 3
        else:
            name = unit[1:-1]
            if name.startswith(("#x", "#X")):
                code = int(name[2:], 16)
            elif name.startswith("#"):
                code = int(name[1:])
            else:
                code = ord(_ENTITIES[name])
            chars.append(chr(code) if code <= 0x10FFFF else "\ufffd")
            spans.append((start, position))
    plain(position, len(text))
    return _joined_surrogates(chars, spans)


def _joined_surrogates(
    chars: list[str], spans: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    # "\ud83d\ude00" decodes to two halves; the secret holds the one character.
    if not any("\ud800" <= char <= "\udbff" for char in chars):
        return "".join(chars), spans
    out: list[str] = []
    out_spans: list[tuple[int, int]] = []
    index = 0
    while index < len(chars):
        char = chars[index]
        if (
            "\ud800" <= char <= "\udbff"
            and index + 1 < len(chars)
            and "\udc00" <= chars[index + 1] <= "\udfff"
        ):
            low = chars[index + 1]
            out.append(chr(0x10000 + ((ord(char) - 0xD800) << 10) + (ord(low) - 0xDC00)))
            out_spans.append((spans[index][0], spans[index + 1][1]))
            index += 2
        else:
            out.append(char)
            out_spans.append(spans[index])
            index += 1
    return "".join(out), out_spans


def _cuts(decoded: str) -> tuple[list[int], list[int]]:
    """Where the text may have been cut: its ends (past spaces and quotes), and each ellipsis."""
    ends = [len(decoded.rstrip())]
    starts = [len(decoded) - len(decoded.lstrip())]
    for ellipsis in _ELLIPSES:
        found = decoded.find(ellipsis)
        while found != -1:
            ends.append(found)
            starts.append(found + len(ellipsis))
            found = decoded.find(ellipsis, found + 1)
    return ends, starts


def _found(decoded: str, secret: str, cuts: tuple[list[int], list[int]]) -> list[tuple[int, int]]:
    """Return where the secret, or a piece of it at a cut, is in the decoded text."""
    spans: list[tuple[int, int]] = []
    if len(secret) >= _SECRET_MIN:
        at = decoded.find(secret)
        while at != -1:
            spans.append((at, at + len(secret)))
            at = decoded.find(secret, at + 1)
        ends, starts = cuts
        for end in ends:
            # Cheap refusal first: the last characters before the cut must be in the secret.
            if decoded[end - _FRAGMENT_MIN : end] not in secret:
                continue
            for length in range(min(len(secret) - 1, end), _FRAGMENT_MIN - 1, -1):
                if decoded.startswith(secret[:length], end - length):
                    spans.append((end - length, end))
                    break
        for start in starts:
            if decoded[start : start + _FRAGMENT_MIN] not in secret:
                continue
            for length in range(min(len(secret) - 1, len(decoded) - start), _FRAGMENT_MIN - 1, -1):
                if decoded.startswith(secret[-length:], start):
                    spans.append((start, start + length))
                    break
    else:
        # A short secret only as a whole quoted string: "pw1" or 'pw1'.
        for quote in "\"'":
            needle = quote + secret + quote
            at = decoded.find(needle)
            while at != -1:
                spans.append((at + 1, at + 1 + len(secret)))
                at = decoded.find(needle, at + 1)
    return spans


def _by_value(text: str, secrets: Collection[str]) -> str:
    hidden: list[tuple[int, int]] = []
    for plus_is_space in (False, True):
        if plus_is_space and not ("+" in text and any(" " in secret for secret in secrets)):
            break
        if plus_is_space or _UNIT.search(text):
            decoded, spans = _decoded(text, plus_is_space)
        else:  # nothing escaped (the common case): each character stands for itself
            decoded, spans = text, None
        cuts = _cuts(decoded)
        for secret in secrets:
            for start, end in _found(decoded, secret, cuts):
                hidden.append(
                    (start, end) if spans is None else (spans[start][0], spans[end - 1][1])
                )
    for secret in secrets:  # verbatim too: a secret that itself looks escaped ("a\\nb", "%41")
        if len(secret) >= _SECRET_MIN:
            at = text.find(secret)
            while at != -1:
                hidden.append((at, at + len(secret)))
                at = text.find(secret, at + 1)
    if not hidden:
        return text
    pieces: list[str] = []
    position = 0
    for start, end in sorted(hidden):
        if start >= position:  # a new masked stretch
            pieces += [text[position:start], MASK]
        position = max(position, end)  # else it overlaps the last one: extend it
    pieces.append(text[position:])
    return "".join(pieces)


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """Mask the secrets in ``text``: by structure (:func:`mask_text`), then by value.

    Args:
        text: Text a server sent, e.g. an error answer; ``None`` is returned as it is.
        secrets: The secrets of the request it answers; each is masked in
            every form an echo may take (see the module's docstring).
    """
    if not text:
        return text
    known = tuple(dict.fromkeys(secret for secret in secrets if secret))
    text = mask_text(text)
    return _by_value(text, known) if known else text
