"""`hznctl` as a program ends through `run()`: atexit work done, streams flushed, the
command's status kept, and no heap teardown (it leaves with os._exit)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hznctl.cli.main import _status

ROOT = Path(__file__).resolve().parents[2]
# Buffered standard streams, as a program normally has them: what run() must flush.
BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (1, 1), (2, 2), (130, 130),
                                              (256 + 3, 3), ("message", 1)])
def test_status_is_what_sys_exit_gives(code, status, capsys):
    assert _status(code) == status
    if isinstance(code, str):
        assert capsys.readouterr().err == "message\n"


def _script(body: str, tmp_path: Path) -> list[str]:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def _program(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_script(body, tmp_path), capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=BUFFERED)


def test_large_output_arrives_whole_and_status_is_kept(tmp_path):
    # stdout is a pipe here, so fully buffered: everything must be flushed before os._exit.
    out = _program("""
        import sys
        from hznctl.cli import main as m
        def fake():
            print("x" * 100_000)
            print("tail", file=sys.stderr)
            sys.exit(3)
        m.main = fake
        m.run()
    """, tmp_path)
    assert out.returncode == 3
    assert out.stdout == "x" * 100_000 + "\n"
    assert out.stderr == "tail\n"


def test_atexit_and_finalizers_still_run(tmp_path):
    marker = tmp_path / "ran"
    out = _program(f"""
        import atexit, tempfile, weakref
        from pathlib import Path
        from hznctl.cli import main as m
        def fake():
            global keep
            keep = tempfile.TemporaryDirectory()
            Path({str(tmp_path / 'where')!r}).write_text(keep.name)
            atexit.register(lambda: Path({str(marker)!r}).write_text("yes"))
        m.main = fake
        m.run()
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert marker.read_text() == "yes"
    assert not Path((tmp_path / "where").read_text()).exists(), "temporary folder left behind"


def test_a_running_thread_is_waited_for(tmp_path):
    marker = tmp_path / "thread"
    out = _program(f"""
        import threading, time
        from pathlib import Path
        from hznctl.cli import main as m
        def work():
            time.sleep(0.2)
            Path({str(marker)!r}).write_text("done")
        def fake():
            threading.Thread(target=work).start()
        m.main = fake
        m.run()
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert marker.read_text() == "done"


def test_closed_stdout_is_a_failure(tmp_path):
    command = _script("""
        import sys
        from hznctl.cli import main as m
        m.main = lambda: sys.stdout.write("x")  # held in the buffer until run() flushes it
        m.run()
    """, tmp_path)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=BUFFERED)
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert b"Traceback" not in err


def test_the_installed_program_and_module_go_through_run():
    assert (ROOT / "hznctl" / "__main__.py").read_text().strip().endswith("run()")
    text = (ROOT / "pyproject.toml").read_text()
    assert 'hznctl = "hznctl.cli.main:run"' in text
