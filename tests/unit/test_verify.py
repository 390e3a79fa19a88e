"""The read-back check: supervisor's own reading of every rendered file, line by line.

The verifier reads each distinct line once with supervisor's parser and builds a file's
reading from its lines, and builds processes once per skeleton. These tests hold it to
supervisor's reading of whole files, and show that a file gone wrong is caught whether it
is the first of its skeleton (built by supervisor) or a later one (checked per program).
"""

from __future__ import annotations

import dataclasses
import shlex

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import UnhosedConfigParser

from hznctl.compile.compiler import SecretFiles
from hznctl.compile.programs import HostCompiler, ProgramBuilder
from hznctl.inventory import load_inventory
from hznctl.placement import groups_by_host
from hznctl.targets.supervisord.options import Section, section
from hznctl.targets.supervisord.render import make_environment, render_program
from hznctl.targets.supervisord.verify import _PLAIN_WORD, Verifier, VerifyError, _LineReader
from tests.support import EXAMPLE_INVENTORY

SECTION = "program:web"

# Lines a template could write, good and bad: every kind supervisor's parser tells apart.
LINES = [
    "", ";comment", "# comment", "[program:web]", "[program:other]", "[DEFAULT]",
    "[program:web] ; note", "[supervisord]", "command=/bin/worker --queue=a",
    "command = /bin/worker", "COMMAND=/bin/upper", "directory=/srv/app",
    "directory=/srv/a ;comment", "directory=/srv/a;b", "directory=/srv/a #b",
    "directory: /srv/colon", "directory=/srv/100%%", "numprocs=2", "numprocs=3",
    "environment=A=1", "x", "=novalue", "[broken", "[a=b", "key=", "key=  spaced  ",
    "stopwaitsecs=60", "a:b=c", " indented=1", "\tcontinued",
]


def supervisor_reading(text: str) -> dict[str, str] | None:
    """The section's options as supervisor reads the whole file; None when it is not
    exactly the one section, or does not parse."""
    parser = UnhosedConfigParser()
    try:
        parser.read_string(text)
    except Exception:  # any parse error: not read as intended
        return None
    if parser.sections() != [SECTION] or parser.defaults():
        return None  # [DEFAULT] values reach every program supervisord reads: refused
    return dict(parser.items(SECTION))


def line_reading(reader: _LineReader, text: str) -> dict[str, str] | None:
    try:
        return reader.section(text, SECTION)
    except VerifyError:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.lists(st.sampled_from(LINES), max_size=12), min_size=1,
                      max_size=6),
       ahead=st.booleans())
@example(files=[["[DEFAULT]", "numprocs=2", "[program:web]", "command=/bin/worker --queue=a"]],
         ahead=False)
@example(files=[["[program:web]", "directory=/srv/app", "[program:web] ; note", "x"],
                ["[program:web]", "[program:web] ; note", "directory: /srv/colon"]],
         ahead=True)
def test_a_file_reads_as_supervisor_reads_it_whole(files, ahead):
    """Line by line, one file at a time or many read ahead, as supervisor reads the file."""
    reader = _LineReader()
    texts = ["\n".join(lines) + "\n" for lines in files]
    if ahead:
        reader.read(texts)
    for text in texts:
        assert line_reading(reader, text) == supervisor_reading(text), text


def test_lines_that_could_continue_another_are_read_with_the_whole_file():
    reader = _LineReader()
    text = "[program:web]\ncommand=/bin/a\n  --evil\n"
    assert reader.section(text, SECTION) == {"command": "/bin/a\n--evil"}
    with pytest.raises(VerifyError, match="ASCII"):
        reader.section("[program:web]\ncommand=/bin/größe\n", SECTION)
    with pytest.raises(VerifyError, match="sections"):
        reader.section("[program:web]\r[program:evil]\rcommand=x\n", SECTION)


@settings(max_examples=300, deadline=None)
@given(name=st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True),
       value=st.from_regex(r"[A-Za-z0-9_]{1,80}", fullmatch=True))
def test_supervisor_reads_a_simple_environment_pair_as_it_is(name, value):
    """What the per-program environment check relies on (see verify's module doc)."""
    assert dict_of_key_value_pairs(f"{name}={value}") == {name: value}


@settings(max_examples=500, deadline=None)
@given(word=st.from_regex(r"[A-Za-z0-9_@%+=:,./-]+", fullmatch=True))
def test_shlex_splits_a_plain_word_into_itself(word):
    """What the command check relies on for words without quotes (see _split_word)."""
    assert _PLAIN_WORD.fullmatch(word)
    assert shlex.split(word) == [word]


@pytest.fixture(scope="module")
def programs() -> list[tuple[Section, str]]:
    """Programs of the example inventory, as sections, with their rendered files."""
    inventory = load_inventory(EXAMPLE_INVENTORY).inventory
    assert inventory is not None
    env = make_environment(EXAMPLE_INVENTORY)
    secrets = SecretFiles(inventory.root)
    builder = ProgramBuilder(inventory, secrets.hash)
    found = {}
    for host, placed in groups_by_host(inventory).items():
        for item in HostCompiler(inventory.hosts[host], builder).programs(placed):
            written = section(item.program)
            found[item.program.group] = (written, render_program(written, env))
    return list(found.values())


def _same_skeleton(programs):
    """Two different programs of one runtime with more than one process each."""
    seen = {}
    for program, text in programs:
        if program.numprocs > 1 and program.program.runtime.template == "laravel-queue.conf.j2":
            if seen and program.group not in {p.group for p, _ in seen.values()}:
                return next(iter(seen.values())), (program, text)
            seen[program.group] = (program, text)
    pytest.fail("the example inventory has no two laravel-queue groups")


def test_every_example_program_reads_back(programs):
    verifier = Verifier()
    verifier.read(text for _, text in programs)
    for program, text in programs:
        verifier.verify(text, program)


TAMPERED = {
    "extra section": lambda t, p: t + "[program:evil]\ncommand=/bin/sh\n",
    "section reopened": lambda t, p: t + f"[program:{p.group}]\nuser=root\n",
    "option overridden": lambda t, p: t + "directory=/tmp\n",
    "option missing": lambda t, p: t.replace("stopwaitsecs=", "; stopwaitsecs="),
    "comment in value": lambda t, p: t.replace("directory=", "directory=/x ;"),
    "indented continuation": lambda t, p: t.replace("\nuser=", "\n  --evil\nuser="),
    "numprocs": lambda t, p: t.replace(f"numprocs={p.numprocs}",
                                       f"numprocs={p.numprocs + 1}"),
    "numprocs spelled otherwise": lambda t, p: t.replace(f"numprocs={p.numprocs}",
                                                         f"numprocs=0{p.numprocs}"),
    "stopwaitsecs": lambda t, p: t.replace("stopwaitsecs=", "stopwaitsecs=1"),
    "environment": lambda t, p: t.replace("HZNCTL_SPEC_SHA256=", "HZNCTL_SPEC_SHA256=0"),
    "environment pairs": lambda t, p: t.replace("environment=", "environment=EVIL=1,"),
    "command": lambda t, p: t.replace("command=", "command=/bin/evil "),
    "command quoting": lambda t, p: t.replace("--queue=", "'--queue=", 1),
    "process names": lambda t, p: t.replace("process_name=%(program_name)s_",
                                            "process_name=%(program_name)s-"),
    "process names expansion": lambda t, p: t.replace("%(program_name)s_",
                                                      "%(here)s_", 1),
    "stop signal": lambda t, p: t.replace("stopsignal=TERM", "stopsignal=KILL"),
    "kill as group": lambda t, p: t.replace("killasgroup=true", "killasgroup=false"),
    "log file": lambda t, p: t.replace(".out.log", ".log"),
    "default section": lambda t, p: "[DEFAULT]\numask=000\n" + t,
    "default section after": lambda t, p: t + "[DEFAULT]\numask=000\n",
}


@pytest.mark.parametrize("first", [True, False], ids=["first-of-skeleton", "later"])
@pytest.mark.parametrize("how", sorted(TAMPERED))
def test_a_tampered_file_is_caught(programs, how, first):
    """Caught when supervisor builds it (first of its skeleton) and when it is checked per
    program after another of the same skeleton read back right."""
    (good, good_text), (program, text) = _same_skeleton(programs)
    tampered = TAMPERED[how](text, program)
    assert tampered != text, f"{how}: the tampering did not apply"
    verifier = Verifier()
    if not first:
        verifier.verify(good_text, good)
        verifier.verify(text, program)  # the untouched file passes
        verifier = _fresh_intent(verifier)
    with pytest.raises(VerifyError):
        verifier.verify(tampered, program)


def _fresh_intent(verifier: Verifier) -> Verifier:
    """The same verifier, skeletons and lines known (it remembers no verified file)."""
    return verifier


def test_a_text_is_verified_against_each_program_it_is_meant_as(programs):
    _, (program, text) = _same_skeleton(programs)
    verifier = Verifier()
    verifier.verify(text, program)
    other = dataclasses.replace(program, program=dataclasses.replace(
        program.program, numprocs=program.numprocs + 1))
    with pytest.raises(VerifyError):
        verifier.verify(text, other)
