"""A server's words in every report and notification: shown, never markup or a command.

Whatever an INFO field or an error reply says (hypothesis draws it), each renderer's output
parses with its channel's real parser into the same structure as for a harmless word."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import html5lib
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from prometheus_client.parser import text_string_to_metric_families

from hznctl.escape import visible
from hznctl.health.html import render_html
from hznctl.health.model import (
    ConnectionHealth,
    Finding,
    HealthReport,
    ServerInfo,
    Status,
    Transition,
    count_statuses,
)
from hznctl.health.notify import slack_text
from hznctl.health.reports import render_junit, render_markdown, render_prometheus

WORDS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["<!channel>", "<http://evil|click>", "<!-- hide", "</td></tr><script>",
                     "a|b\n| x |", "`code`", "*bold* _it_", "\x1b[2J", 'v"1\\\n2']))


def _report(said: str) -> HealthReport:
    item = ConnectionHealth(
        connection="redis-a", environment="production", endpoint="h:1/0", status=Status.DOWN,
        message=f"failed: {said}",
        findings=[Finding(check="connect", status=Status.DOWN, message=f"failed: {said}")],
        server=ServerInfo(version=said, role=said))
    return HealthReport(
        inventory="inventory", started_at="2026-11-29T08:00:00Z", duration_seconds=0.1,
        deadline_seconds=10, status=Status.DOWN, counts=count_statuses([item]),
        connections=[item], transitions=[Transition(
            connection="redis-a", environment="production", previous=Status.OK,
            current=Status.DOWN, message=f"failed: {said}")])


def _markdown_shape(text: str) -> list[str]:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    return [t.type for t in tokens] + [c.type for t in tokens for c in t.children or []]


def _html_shape(text: str) -> list[str]:
    tree = html5lib.parse(text, treebuilder="etree", namespaceHTMLElements=False)
    return [element.tag for element in tree.iter()]


HARMLESS = _report("word")


@settings(max_examples=60, deadline=None)
@given(WORDS)
def test_every_report_keeps_its_structure_whatever_the_server_said(said: str) -> None:
    report = _report(said)
    assert _markdown_shape(render_markdown(report)) == _markdown_shape(render_markdown(HARMLESS))
    tokens = MarkdownIt("commonmark").enable("table").parse(render_markdown(report))
    codes = {c.content for t in tokens for c in t.children or [] if c.type == "code_inline"}
    assert f"failed: {visible(said)}" in codes  # shown exactly, in a table cell and a list
    assert _html_shape(render_html(report, [])) == _html_shape(render_html(HARMLESS, []))
    junit = ET.fromstring(render_junit(report).encode())
    (case,) = junit.iter("testcase")
    assert case.find("failure").get("message") == f"failed: {visible(said)}"  # type: ignore[union-attr]
    families = {f.name: f for f in text_string_to_metric_families(render_prometheus(report))}
    (info,) = families["hznctl_redis_instance_info"].samples
    assert info.labels["redis_version"] == visible(said[:100])


@settings(deadline=None)
@given(WORDS)
def test_slack_text_has_no_mention_link_or_stray_line(said: str) -> None:
    text = slack_text(_report(said).transitions, _report(said))
    body = text.split("\n", 1)[1]
    assert "\n" not in body and "<" not in body and ">" not in body
