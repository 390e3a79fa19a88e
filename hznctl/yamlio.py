"""Strict YAML reading: every value keeps its place, and YAML's surprises are refused.

Plain block YAML (what nearly every inventory file is) is read by a line scan straight to
values (``_fast_values``); anything outside that subset, and every file with a mistake, is
composed by PyYAML's C parser (marks on every node) and built by ``_Builder``, which judges
it; both give the same values under a deliberately small scalar grammar:

* ``true``/``false`` are booleans; ``yes``/``no``/``on``/``off`` stay strings (YAML 1.1 would
  make them booleans), so a boolean field given ``yes`` is an error with a hint, and a string
  field given ``on`` gets the string it reads as.
* Decimal integers without a leading zero are integers; ``0755``, ``0x1f``, ``1_000`` stay
  strings, so an integer field reports them instead of guessing an octal.
* ``1e3`` and ``1.5`` are floats (YAML 1.2), which an integer or string field refuses.
* ``~``, ``null`` and the empty value are null.
* Duplicate keys are errors (PyYAML keeps the last one silently), explicit tags are refused,
  alias expansion is bounded (no billion laughs), files are size-limited UTF-8.

Line numbers come from composing a file's text again when a diagnostic needs one
(``Document.locate``), whichever path read it: loading records no mark for any value.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hznctl.readfile import NotARegularFile, blob_id, read_regular

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64

STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
# Scalars without an explicit tag; typed by ``scalar_value``. An explicit ``!!str`` keeps
# STR_TAG, so ``!!str true`` is the text "true" as YAML says.
UNTAGGED_SCALAR = "tag:hznctl,2026:untagged"
_STANDARD_TAGS = frozenset({STR_TAG, SEQ_TAG, MAP_TAG, UNTAGGED_SCALAR})

_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT_RE = re.compile(
    r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z"
)
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
          "FALSE": False}
YAML11_BOOL_WORDS = frozenset(
    {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF",
     "Y", "N"}
)

PathParts = tuple[str | int, ...]


class YamlProblem(Exception):
    """A file that cannot be read as a strict YAML document; carries its place."""

    def __init__(self, message: str, line: int = 1, col: int = 1, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.hint = hint


class _Composer(CParser):
    """The C parser with a resolver that tags every plain scalar as a string.

    Scalar typing happens in ``_Builder`` with our own grammar; doing it here through
    PyYAML's implicit resolvers would both be slower and bring back YAML 1.1 booleans.
    """

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return UNTAGGED_SCALAR
        if kind is SequenceNode:
            return SEQ_TAG
        return MAP_TAG

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


def scalar_value(node: ScalarNode) -> Any:
    """The Python value of a scalar node under hznctl's strict grammar."""
    text: str = node.value
    if node.style:  # quoted or block scalars are always strings
        return text
    return plain_value(text)


def plain_value(text: str) -> Any:
    """What an unquoted scalar ``text`` means under hznctl's strict grammar."""
    if text in _NULLS:
        return None
    boolean = _BOOLS.get(text)
    if boolean is not None:
        return boolean
    if _INT_RE.match(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts (4,300): text, reported by
            return text     # the field as any other wrong value, never a traceback
    if _FLOAT_RE.match(text) and any(c.isdigit() for c in text):
        return float(text)
    return text


# First characters that can start a null, a boolean or a number; any other plain scalar is
# text, which spares the regular expressions for most values (names, queues, paths).
_MAYBE_TYPED = frozenset("0123456789+-.~nNtTfF")


def _plain(text: str) -> Any:
    if text and text[0] not in _MAYBE_TYPED:
        return text
    return plain_value(text)


@dataclass
class _Builder:
    """Plain values from a node tree, within one budget of values for the whole document.

    Aliases and merge keys (``<<``) both re-build what they refer to, so both count against
    the budget (no billion laughs, and no exponential nesting of merges of small mappings);
    nesting is bounded, and a mapping that takes part in its own building (``&a {<<: *a}``,
    or a value that is an alias of a mapping it is in) is an error at its place.
    """

    nodes_left: int = MAX_NODES
    _open: set[int] = field(default_factory=set)

    def _spend(self, node: Node, count: int = 1) -> None:
        self.nodes_left -= count
        if self.nodes_left < 0:
            raise YamlProblem(
                f"the document expands to more than {MAX_NODES} values",
                *_pos(node),
                hint="anchors, aliases and merge keys are limited; write the values out",
            )

    def build(self, node: Node, depth: int = 0) -> Any:
        self._spend(node)
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", *_pos(node))
        tag = node.tag
        cls = node.__class__
        if cls is ScalarNode:
            if tag == UNTAGGED_SCALAR:
                style = node.style  # type: ignore[attr-defined]  # a ScalarNode, checked above
                return node.value if style else _plain(node.value)
            if tag == STR_TAG:
                return node.value
        elif cls is SequenceNode and tag == SEQ_TAG:
            return [self.build(item, depth + 1) for item in node.value]
        elif isinstance(node, MappingNode) and tag == MAP_TAG:
            return self.build_mapping(node, depth)
        raise _tag_problem(node)

    def build_mapping(self, node: MappingNode, depth: int) -> dict[Any, Any]:
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", *_pos(node))
        ident = id(node)
        if ident in self._open:
            raise _self_reference(node)
        self._open.add(ident)
        try:
            return self._mapping(node, depth)
        finally:
            self._open.discard(ident)

    def _mapping(self, node: MappingNode, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] | None = None
        for key_node, value_node in node.value:
            key = _key(key_node)
            if key == "<<" and not key_node.style:
                merged = merged or {}
                merged.update(self._merge_source(key_node, value_node, depth))
                continue
            if key in result:
                raise _duplicate(node, key_node, key)
            if id(value_node) in self._open:
                raise _self_reference(key_node)
            result[key] = self.build(value_node, depth + 1)
        if merged:
            self._spend(node, len(merged))  # the merged keys are copied: they count too
            return {**merged, **result}
        return result

    def _merge_source(self, key_node: Node, node: Node, depth: int) -> dict[Any, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: dict[Any, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, MappingNode):
                raise YamlProblem("a merge key (<<) takes a mapping or a list of mappings",
                                  *_pos(source))
            if id(source) in self._open:
                raise _self_reference(key_node)
            self._spend(source)
            out.update(self.build_mapping(source, depth + 1))
        return out


# --- the fast path: plain block YAML straight to values --------------------------------
#
# Most inventory files are block mappings and lists of plain or simply quoted scalars,
# one per line. ``_fast_values`` reads exactly that subset with a line scan, about three
# times cheaper than composing nodes and building values from them, and gives up (None)
# at the first line it does not fully understand: anything else a YAML file may hold
# (flow collections, block or multi-line scalars, anchors, aliases, merge keys, tags,
# escapes, tabs, non-ASCII text, duplicate keys, documents markers, whatever libyaml would
# refuse) then goes through the composer and ``_Builder`` above, which judge it as they
# always did. So the fast path never accepts what the strict reader refuses, and gives the
# same values where it accepts (tests/unit/test_yamlio_fast.py checks both on generated
# YAML). Line numbers are not needed here: ``Document.locate`` composes the file again
# when a diagnostic needs one.

class _NotPlain(Exception):
    """The text is outside the fast path's subset: read it with the composer instead."""


# Printable ASCII and newlines only: no tabs, carriage returns or other breaks/controls.
_OUTSIDE_SUBSET = re.compile(r"[^\n\x20-\x7e]")
# Every line that holds something (not blank, not only a comment): its indent, a list
# item's dashes, a key, and the rest (a value, a comment).
_LINE = re.compile(
    r"^(?=[ ]*[^ \n#])( *)((?:-(?: +|$))*)(?:([A-Za-z_][A-Za-z0-9_./-]*):(?: +|$))?(.*)$",
    re.MULTILINE)
_NESTED_ITEM = re.compile(r"^ *- +-(?: |$)", re.MULTILINE)  # "- - a": a list in a list
# A plain scalar that ends at the end of the line or at a comment, with no '#' inside and
# none of the characters that start another YAML construct first.
_PLAIN_VALUE = re.compile(r"((?:[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-(?=[^\s]))[^#]*?) *(?: #.*)?\Z")
_SINGLE_QUOTED = re.compile(r"'((?:[^']|'')*)' *(?: #.*)?\Z")
_EMPTY_FLOW = re.compile(r"(?:\[\]|\{\}) *(?: #.*)?\Z")
_DOUBLE_QUOTED = re.compile(r"\"([^\"\\]*)\" *(?: #.*)?\Z")
# First characters of most plain values (names, paths, numbers); the rest take the
# regular expressions above.
_SIMPLE_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~$+(")
_TEXT_FIRST = _SIMPLE_FIRST - _MAYBE_TYPED  # plain values that can only be text
# Keys the key pattern lets through that are not text under the scalar grammar.
_UNTEXT_KEYS = frozenset(k for k in (*_NULLS, *_BOOLS) if k and k[0].isalpha())
# As ``_LINE`` finds them: indent, dashes, key, rest of the line. The indent of a line is
# len(indent); what follows a list item's dash is at len(indent) + len(dashes).
_Line = tuple[str, str, str, str]


def _fast_values(text: str) -> Any:
    """The values of ``text`` if it is in the fast path's subset, else raise _NotPlain."""
    if _OUTSIDE_SUBSET.search(text) is not None:
        raise _NotPlain
    lines: list[_Line] = _LINE.findall(text)
    if _NESTED_ITEM.search(text) is not None:
        lines = _nested_item_lines(lines)
    # Values never outnumber lines here (no aliases): bound the lines instead.
    if not lines or len(lines) > MAX_NODES // 2:
        raise _NotPlain
    value, end = _fast_node(lines, 0, 0)
    if end != len(lines):
        raise _NotPlain
    return value


def _nested_item_lines(found: list[_Line]) -> list[_Line]:
    """Lines where one may hold several dashes, each dash as if it began a line.

    ``- - a`` is a list item whose content is a list at the second dash: as if the second
    dash began a line of its own at its column.
    """
    lines: list[_Line] = []
    for indent, dash, key, rest in found:
        column = len(indent)
        dashes = [column + offset for offset, char in enumerate(dash) if char == "-"]
        if len(dashes) < 2:
            lines.append((indent, dash, key, rest))
            continue
        for this, following in itertools.pairwise(dashes):
            lines.append((" " * this, "-" + " " * (following - this - 1), "", ""))
        lines.append((" " * dashes[-1], dash[dashes[-1] - column:], key, rest))
    return lines


def _fast_node(lines: list[_Line], at: int, depth: int) -> tuple[Any, int]:
    """The block that starts at line ``at``, and the line after it."""
    if depth > MAX_DEPTH:
        raise _NotPlain
    indent, dash, key, _ = lines[at]
    if dash:
        return _fast_list(lines, at, len(indent), depth)
    if key:
        return _fast_mapping(lines, at, len(indent), depth, False)
    raise _NotPlain  # a scalar on a line of its own: the document, or a continuation


def _fast_mapping(lines: list[_Line], at: int, indent: int, depth: int,
                  inline: bool) -> tuple[Any, int]:
    """A block mapping at ``indent``; ``inline``: its first key follows a list item's dash."""
    result: dict[str, Any] = {}
    count = len(lines)
    while at < count:
        spaces, dash, key, rest = lines[at]
        if inline:
            inline = False  # the dash is the list's; the key is at ``indent``
        else:
            line_indent = len(spaces)
            if line_indent < indent:
                break
            if line_indent > indent or dash:
                raise _NotPlain
        if not key or key in result or key in _UNTEXT_KEYS:
            # No key (a stray scalar), a duplicate, a null or boolean key: the composer
            # says which.
            raise _NotPlain
        at += 1
        if rest and rest[0] != "#":
            if rest[0] in _TEXT_FIRST and rest[-1] not in " :" and "#" not in rest \
                    and ": " not in rest:
                result[key] = rest  # plain text, most values: as _fast_scalar, inline
            else:
                result[key] = _fast_scalar(rest)
            continue  # a deeper line next (a multi-line scalar, a mistake) is refused above
        if at < count:
            following = len(lines[at][0])
            if following > indent or (following == indent and lines[at][1]):
                result[key], at = _fast_node(lines, at, depth + 1)
                continue
        result[key] = None
    return result, at


def _fast_list(lines: list[_Line], at: int, indent: int, depth: int) -> tuple[Any, int]:
    result: list[Any] = []
    count = len(lines)
    while at < count:
        spaces, dash, key, rest = lines[at]
        line_indent = len(spaces)
        if line_indent < indent or (line_indent == indent and not dash):
            break  # the list ends (a key at its indent: the list was a mapping's value)
        if line_indent > indent or not dash:
            raise _NotPlain
        if key:
            value, at = _fast_mapping(lines, at, indent + len(dash), depth + 1, True)
            result.append(value)
            continue
        at += 1
        if rest and rest[0] != "#":
            # A deeper line next (a multi-line scalar, a mistake) is refused above.
            if rest[0] in _TEXT_FIRST and rest[-1] not in " :" and "#" not in rest \
                    and ": " not in rest:
                result.append(rest)
            else:
                result.append(_fast_scalar(rest))
        elif at < count and len(lines[at][0]) > indent:
            value, at = _fast_node(lines, at, depth + 1)
            result.append(value)
        else:
            result.append(None)  # "-" and nothing under it
    return result, at


def _fast_scalar(rest: str) -> Any:
    first = rest[0]
    if first in _SIMPLE_FIRST and rest[-1] not in " :" and "#" not in rest \
            and ": " not in rest:
        if first not in _MAYBE_TYPED:
            return rest
        # ASCII here, so isdigit() is 0-9; a long number takes plain_value's care.
        if rest.isdigit() and (first != "0" or len(rest) == 1) and len(rest) < 19:
            return int(rest)
        return plain_value(rest)
    if first in "[{":  # only the empty ones: anything in a flow collection is the composer's
        found = _EMPTY_FLOW.match(rest)
        if found is None:
            raise _NotPlain
        return [] if first == "[" else {}
    if first == "'":
        found = _SINGLE_QUOTED.match(rest)
        if found is None:
            raise _NotPlain
        return found.group(1).replace("''", "'")
    if first == '"':
        found = _DOUBLE_QUOTED.match(rest)
        if found is None:
            raise _NotPlain
        return found.group(1)
    found = _PLAIN_VALUE.match(rest)
    if found is None:
        raise _NotPlain
    text = found.group(1)
    if ": " in text or text[-1] == ":":
        raise _NotPlain
    return _plain(text)


def _self_reference(node: Node) -> YamlProblem:
    return YamlProblem("an alias or merge key (<<) refers to a mapping it is part of",
                       *_pos(node), hint="a mapping cannot contain or merge itself")


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _tag_problem(node: Node) -> YamlProblem:
    return YamlProblem(
        f"explicit tag {node.tag!r} is not allowed",
        *_pos(node),
        hint="remove the tag; quote the value if it must be a string",
    )


def _key(key_node: Node) -> str:
    if key_node.__class__ is not ScalarNode:
        raise YamlProblem("mapping keys must be plain strings", *_pos(key_node))
    tag = key_node.tag
    if tag == STR_TAG or (tag == UNTAGGED_SCALAR and key_node.style):
        key: Any = key_node.value
    elif tag == UNTAGGED_SCALAR:
        key = _plain(key_node.value)
    else:
        raise _tag_problem(key_node)
    if not isinstance(key, str):
        raise YamlProblem(f"key {key_node.value!r} is not a string", *_pos(key_node),
                          hint="quote the key")
    return key


def _duplicate(mapping: MappingNode, key_node: Node, key: str) -> YamlProblem:
    first = next(k for k, _ in mapping.value if k.__class__ is ScalarNode and k.value == key)
    return YamlProblem(
        f"duplicate key {key!r} (first defined at line {first.start_mark.line + 1})",
        *_pos(key_node),
        hint="YAML keeps only one of them; remove or rename one",
    )


def _explain_parser_error(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or str(exc)
    hint = ""
    if "'\\t'" in problem or "\t" in problem or _tab_near(text, line):
        problem = "a tab character is used for indentation"
        hint = "YAML indents with spaces only; replace the tab with spaces"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    return YamlProblem(f"invalid YAML: {problem}", line, col, hint)


def _tab_near(text: str, line: int) -> bool:
    lines = text.splitlines()
    for number in (line - 1, line):
        if 0 < number <= len(lines) and lines[number - 1][:1] == "\t":
            return True
    return False


@dataclass
class Document:
    """One YAML file's data together with its text, to locate any field later."""

    path: Path
    display: str
    data: Any
    text: str = field(repr=False, default="")
    _root: Node | None = field(repr=False, default=None, compare=False)
    # The git blob id of the file's bytes as read (``readfile.blob_id``): `plan --base`
    # matches the files validated with another revision's without reading them again.
    blob: str = field(repr=False, default="", compare=False)

    @property
    def root(self) -> Node | None:
        """The file's node tree, composed again from ``text`` when first asked for.

        Only a file with a diagnostic needs it. Keeping every file's tree from loading cost
        more memory than the data itself (a node per value, with its marks), and the
        garbage collector had to scan all of them once validate was done.
        """
        if self._root is None and self.text:
            self._root = _compose(self.text)
        return self._root

    def locate(self, parts: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value at ``parts`` (or of its key with ``key=True``).

        A path that goes past what exists (a missing field) resolves to the deepest
        existing node, which is where the user has to add it.
        """
        node = self.root
        if node is None:
            return 1, 1
        at = _pos(node)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            child: Node | None = None
            if isinstance(node, MappingNode):
                for key_node, value_node in _mapping_items(node):
                    if key_node.value == part:
                        if last and key:
                            return _pos(key_node)
                        child = value_node
                        break
            elif isinstance(node, SequenceNode) and isinstance(part, int) and (
                0 <= part < len(node.value)
            ):
                child = node.value[part]
            if child is None:
                return at
            node = child
            at = _pos(node)
        return at


def _mapping_items(node: MappingNode) -> list[tuple[Node, Node]]:
    items: list[tuple[Node, Node]] = []
    merges: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "<<" and not key_node.style:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if isinstance(source, MappingNode):
                    merges.extend(_mapping_items(source))
        else:
            items.append((key_node, value_node))
    return items + merges


def load_document(path: Path, display: str | None = None) -> Document:
    """Read one inventory file strictly. Raises YamlProblem with a place on any hazard."""
    display = display or str(path)
    try:
        raw = read_regular(path, MAX_FILE_BYTES)
    except NotARegularFile as exc:
        raise YamlProblem(f"cannot read file: it is {exc}",
                          hint="an inventory file is a regular file") from None
    except OSError as exc:
        raise YamlProblem(f"cannot read file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:  # read only up to the limit: say the file's real size
        raise _too_large(max(len(raw), _size(path)))
    return parse_document(raw, path, display)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _too_large(size: int) -> YamlProblem:
    return YamlProblem(f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES}",
                       hint="split it or remove what it repeats")


def parse_document(raw: bytes, path: Path, display: str) -> Document:
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem(
            f"file is not UTF-8 (invalid byte 0x{raw[exc.start]:02x})", line, col,
            hint="save the file as UTF-8",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise YamlProblem("file contains a NUL character", line, 1)
    try:
        data = _fast_values(text)
    except _NotPlain:
        data = strict_values(text)
    return Document(path=path, display=display, data=data, text=text, blob=blob_id(raw))


def strict_values(text: str) -> Any:
    """The values of ``text`` through the composer and ``_Builder``, which judge any YAML."""
    root = _compose(text)
    if root is None:
        raise YamlProblem("file is empty", hint="an inventory file holds one mapping")
    return _Builder().build(root)


def _compose(text: str) -> Node | None:
    composer = _Composer(text)
    try:
        root = composer.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            mark = exc.problem_mark
            raise YamlProblem(
                "file holds more than one YAML document",
                (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1,
                hint="keep one object per file; remove the '---' separator",
            ) from None
        raise _explain_parser_error(exc, text) from None
    except yaml.MarkedYAMLError as exc:
        raise _explain_parser_error(exc, text) from None
    except yaml.YAMLError as exc:  # pragma: no cover - reader errors without marks
        raise YamlProblem(f"invalid YAML: {exc}") from None
    finally:
        composer.dispose()
    return root
