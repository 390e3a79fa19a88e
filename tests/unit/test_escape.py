"""Every channel's escaping, checked against a real parser of that channel: for any string,
the rendered value parses back to the same (visible) text and adds no structure."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import html5lib
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from prometheus_client.parser import text_string_to_metric_families

from hznctl import escape

# Every code point, surrogates included, with the dangerous ones made likely.
HOSTILE = st.sampled_from(list("\n\r\t\x00\x1b\x7f\x85\u2028\u202e\ufeff`|<>&\"'\\*_[]()!#:%,~"))
TEXT = st.text(alphabet=st.one_of(st.characters(), HOSTILE), max_size=40)
MARKERS = ["::warning::x", "##[error]x", "<!-- hidden", "<!channel>", "<http://a|b>",
           "`code`", "a|b", "**bold**", "[link](http://x)", "\x1b[31mred", "line\nbreak"]
VALUES = st.one_of(TEXT, st.sampled_from(MARKERS),
                   st.tuples(TEXT, st.sampled_from(MARKERS), TEXT).map("".join))


def _printable(text: str) -> bool:
    return all(c.isprintable() for c in text)


@settings(deadline=None)
@given(VALUES)
def test_visible_has_no_control_character_and_keeps_printable_text(value: str) -> None:
    shown = escape.visible(value)
    assert _printable(shown)
    if value.isprintable():
        assert shown == value


@settings(deadline=None)
@given(VALUES)
def test_terminal_text_never_makes_a_workflow_command(value: str) -> None:
    """A line is a command when it starts with "::" after white space (TryParseV2) or holds
    "##[" anywhere (TryParse): actions/runner src/Runner.Common/ActionCommand.cs, tried in
    that order by src/Runner.Worker/ActionCommandManager.cs TryProcessCommand."""
    shown = escape.terminal(value)
    assert _printable(shown) and "\n" not in shown
    for line in (shown, f"{shown}: message", f"  {shown}"):
        assert not line.lstrip().startswith("::")
    assert "##[" not in f"#{shown}"


def _runner_unescape(text: str, mappings: list[tuple[str, str]]) -> str:
    for token, replacement in mappings:
        text = text.replace(replacement, token)
    return text


DATA = [("\r", "%0D"), ("\n", "%0A"), ("%", "%25")]
PROPERTY = [("\r", "%0D"), ("\n", "%0A"), (":", "%3A"), (",", "%2C"), ("%", "%25")]


@settings(deadline=None)
@given(VALUES, VALUES)
def test_github_annotation_parts_unescape_to_the_visible_text(data: str, prop: str) -> None:
    """The runner's own unescaping (ActionCommand.UnescapeData / UnescapeProperty, same
    file) gives back the visible text; nothing ends the property or the line early."""
    message, title = escape.github_data(data), escape.github_property(prop)
    assert "\n" not in message + title and "\r" not in message + title
    assert ":" not in title and "," not in title
    assert _runner_unescape(message, DATA) == escape.visible(data)
    assert _runner_unescape(title, PROPERTY) == escape.visible(prop)


MARKDOWN = MarkdownIt("commonmark").enable("table")


def _only_code(children: list) -> str:  # type: ignore[type-arg]
    assert [c.type for c in children] == ["code_inline"], children
    content: str = children[0].content
    return content


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_markdown_code_span_parses_back_to_the_text(value: str) -> None:
    rendered = escape.markdown_code(value)
    if not value:
        assert rendered == ""
        return
    tokens = MARKDOWN.parse(f"before {rendered} after")
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = tokens[1].children or []
    assert children[0].type == "text" and children[-1].type == "text"
    assert _only_code(children[1:-1]) == escape.visible(value)


@settings(max_examples=300, deadline=None)
@given(VALUES, VALUES)
def test_markdown_code_span_in_a_table_cell_stays_in_its_cell(first: str, second: str) -> None:
    cells = [escape.markdown_code(v, table=True) or "-" for v in (first, second)]
    document = f"| a | b |\n|---|---|\n| {cells[0]} | {cells[1]} |\n"
    tokens = MARKDOWN.parse(document)
    body = [t for t in tokens if t.type == "inline"][2:]
    assert len(body) == 2
    for value, inline in zip((first, second), body, strict=True):
        if value:
            assert _only_code(inline.children or []) == escape.visible(value)


def _html_fragment(markup: str) -> tuple[str, list[str]]:
    tree = html5lib.parseFragment(markup, treebuilder="etree", namespaceHTMLElements=False)
    return "".join(tree.itertext()), [child.tag for child in tree.iter()][1:]


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_html_text_and_attribute_parse_back_with_no_element(value: str) -> None:
    text, elements = _html_fragment(f"<b>{escape.html_text(value)}</b>")
    assert elements == ["b"] and text == escape.visible(value)
    tree = html5lib.parseFragment(f'<i title="{escape.html_text(value)}">x</i>',
                                  treebuilder="etree", namespaceHTMLElements=False)
    (element,) = list(tree)
    assert element.get("title") == escape.visible(value) and list(element) == []


@settings(deadline=None)
@given(VALUES)
def test_slack_code_has_no_control_sequence_and_reads_back(value: str) -> None:
    """Slack's only control characters are & < > (written as entities); a code span
    formats nothing inside it and cannot hold a backtick."""
    rendered = escape.slack_code(value)
    if not escape.visible(value):
        assert rendered == ""
        return
    assert rendered.startswith("`") and rendered.endswith("`")
    inner = rendered[1:-1]
    assert "<" not in inner and ">" not in inner and "`" not in inner and "\n" not in inner
    unescaped = inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped == escape.visible(value).replace("`", escape.SLACK_BACKTICK)


@settings(deadline=None)
@given(VALUES)
def test_xml_text_and_attribute_survive_a_round_trip(value: str) -> None:
    case = ET.Element("testcase", {"name": escape.xml_text(value)})
    case.text = escape.xml_text(value)
    parsed = ET.fromstring(ET.tostring(case, encoding="unicode").encode("utf-8"))
    assert parsed.get("name") == escape.visible(value)
    assert parsed.text == (escape.visible(value) or None) and list(parsed) == []


@settings(deadline=None)
@given(VALUES, VALUES)
def test_prometheus_label_and_help_parse_back(label: str, help_text: str) -> None:
    text = (f"# HELP m {escape.prometheus_help(help_text)}\n# TYPE m gauge\n"
            f'm{{a="{escape.prometheus_label(label)}",b="x"}} 1\n')
    families = list(text_string_to_metric_families(io.StringIO(text).read()))
    assert len(families) == 1
    family = families[0]
    # The format separates HELP from its text by white space: the text's own ends go.
    assert family.documentation == escape.visible(help_text).strip(" ")
    (sample,) = family.samples
    assert sample.labels == {"a": escape.visible(label), "b": "x"} and sample.value == 1


def test_examples_read_as_documented() -> None:
    assert escape.terminal("x\n::warning::y") == "x\\n::warning::y"
    assert escape.terminal("  ::error::y") == "  \\x3a:error::y"
    assert escape.terminal("\x1b[2Jgone") == "\\x1b[2Jgone"
    assert escape.markdown_code("a`b") == "``a`b``"
    assert escape.markdown_code("<!--") == "`<!--`"
    assert escape.slack_code("<!channel>") == "`&lt;!channel&gt;`"
