"""Reading SOPS YAML files fast: sops' own metadata block is scanned, not parsed as YAML.

A file encrypted for 200 hosts holds 200 recipients with armored age blocks; building
YAML nodes for them costs ~12 ms, ten times a whole decryption. sops writes its metadata
in one fixed layout (4-space indents, ``- recipient:`` then ``enc: |``), so a line scan
reads it; the data part goes through hznctl's strict YAML reader as usual. Anything the
scan does not recognise (PGP or KMS keys, key groups, another layout) makes it step aside
and the whole file is parsed as YAML: the result is the same either way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hznctl.yamlio import parse_document

_SOPS_KEY = re.compile(r"^sops:[ \t]*\n", re.MULTILINE)
_NEXT_TOP_LEVEL = re.compile(r"\n[^ \n]")
_META_ITEM = re.compile(r" {4}([a-z_]+):(?: ([^\n]*))?\n")
_AGE_ENTRY = re.compile(r" {8}- recipient: (\S+)\n {10}enc: \|\n((?: {12}[^ \t\n][^\n]*\n)+)")
_BLOCK_NEWLINE = "\n" + " " * 12
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_PLAIN = re.compile(r"[^\s&*!|>%@`{}\[\]#,'\"-][^#]*")


class _Unrecognised(Exception):
    pass


def load_sops_yaml(data: bytes, path: Path) -> Any:
    """The document's data, as hznctl's strict YAML reader gives it (raises YamlProblem)."""
    text = data.decode("utf-8", "surrogateescape")
    found = _SOPS_KEY.search(text)
    if found is not None and "\r" not in text:
        following = _NEXT_TOP_LEVEL.search(text, found.end() - 1)
        end = following.start() + 1 if following else len(text)
        try:
            meta = _scan_metadata(text[found.end():end].rstrip("\n") + "\n")
        except _Unrecognised:
            meta = None
        if meta is not None:
            rest = (text[:found.start()] + text[end:]).encode("utf-8", "surrogateescape")
            document = parse_document(rest, path, str(path)).data
            if document is None:
                document = {}
            if isinstance(document, dict) and "sops" not in document:
                document["sops"] = meta
                return document
    return parse_document(data, path, str(path)).data


def _scan_metadata(text: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    pos = 0
    while pos < len(text):
        if text[pos] == "\n":
            pos += 1
            continue
        match = _META_ITEM.match(text, pos)
        if match is None or match.group(1) in meta:
            raise _Unrecognised
        key, value = match.groups()
        pos = match.end()
        if value is None or value == "":
            if key != "age":
                raise _Unrecognised
            meta[key], pos = _scan_age(text, pos)
        else:
            meta[key] = _scalar(value)
    return meta


def _scan_age(text: str, pos: int) -> tuple[list[dict[str, str]], int]:
    entries: list[dict[str, str]] = []
    while (match := _AGE_ENTRY.match(text, pos)) is not None:
        # Every line of the block starts with exactly 12 spaces (the pattern says so):
        # dropping them is a plain replace after each newline, cheaper than a regex.
        block = match.group(2)
        entries.append({"recipient": match.group(1),
                        "enc": block[12:].replace(_BLOCK_NEWLINE, "\n")})
        pos = match.end()
    if not entries or text.startswith(" " * 5, pos) or (
        text.startswith("\n", pos) and re.match(r"\n+ {5}", text[pos:pos + 64])
    ):
        raise _Unrecognised  # more than the layout sops writes (a blank line in a block, …)
    return entries, pos


def _scalar(value: str) -> Any:
    """The few scalar forms sops writes in its metadata, read as hznctl's YAML reader does."""
    if value.startswith('"'):
        if not value.endswith('"') or len(value) < 2 or "\\" in value:
            raise _Unrecognised
        return json.loads(value)
    if value.startswith("'"):
        inner = value[1:-1]
        if not value.endswith("'") or len(value) < 2 or "'" in inner.replace("''", ""):
            raise _Unrecognised
        return inner.replace("''", "'")
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?(?:0|[1-9][0-9]*)", value):
        return int(value)
    if not _PLAIN.fullmatch(value) or ": " in value or value.endswith((" ", ":")):
        raise _Unrecognised
    if value in ("null", "Null", "NULL", "~") or _FLOAT.fullmatch(value):
        raise _Unrecognised  # nulls and numbers: rare in sops metadata; the parser knows them
    return value
