"""The exact bytes every command prints, per format, and its exit code, pinned by golden
files in `cli_output/`: the output helper (`hznctl/cli/output.py`) must not change a byte.

Each case runs the installed `hznctl` in a subprocess (the real entry point, its real
stdout and stderr, the exit code as a shell sees it) on a copy of the example inventory in
a git repository. Regenerate with HZNCTL_UPDATE_GOLDEN=1, only when a change of bytes is
intended. Commands that need a live supervisord or Redis are pinned the same way in
`tests/integration/test_cli_output_bytes_live.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY, venv_bin

GOLDEN = Path(__file__).parent / "cli_output"
UPDATE = os.environ.get("HZNCTL_UPDATE_GOLDEN") == "1"
IMPORT_CORPUS = Path(__file__).parent / "import_corpus"
BOB = ("Bob Operator", "bob@example.com")
ALICE = ("Alice Admin", "alice@example.com")


def _git(repo: Path, *args: str, who: tuple[str, str] = ALICE) -> None:
    date = "2026-01-05T09:00:00+00:00"
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
           "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1],
           "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.com"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A git repository: the example inventory on main, a change by the operator on a
    branch; `old` is main's compile, an invalid copy of the inventory beside it."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(EXAMPLE_INVENTORY, root / "inventory")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--no-gpg-sign", "-m", "the fleet")
    assert _run(root, "compile", "inventory", "--out", "old").returncode == 0
    _git(root, "checkout", "-q", "-b", "change")
    mailer = root / "inventory/applications/mailer.yaml"
    mailer.write_text(mailer.read_text().replace("max_processes: 3", "max_processes: 4")
                      .replace("icon: envelope", "icon: inbox"))
    _git(root, "add", "inventory")  # not old/: its cluster Secrets differ at every compile
    _git(root, "commit", "-q", "--no-gpg-sign", "-m", "more mail", who=BOB)
    assert _run(root, "compile", "inventory", "--out", "new").returncode == 0
    shutil.copytree(root / "inventory", root / "broken")
    billing = root / "broken/applications/billing.yaml"
    billing.write_text(billing.read_text().replace("redis-main", "redis-nowhere", 1))
    (root / "broken/applications/mailer.yaml").write_text(
        mailer.read_text().replace("timeout: 90", "timeout: 900"))
    yield root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "HZNCTL_", "SOPS_")) and k not in ("CI", "NO_COLOR")}
    env.update(HZNCTL_AGE_KEY_FILE=str(DEMO_KEYS / "cluster-eu.agekey"),
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", COLUMNS="100")
    return env


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([venv_bin("hznctl"), *args], cwd=root, env=_env(root),
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def transcript(args: tuple[str, ...], done: subprocess.CompletedProcess[bytes],
               root: Path) -> bytes:
    """What a run printed, with the temporary folder's path written <tmp>."""
    out = (b"$ hznctl " + " ".join(args).encode() + b"\nexit " + str(done.returncode).encode()
           + b"\n--- stdout\n" + done.stdout + b"--- stderr\n" + done.stderr)
    return out.replace(str(root).encode(), b"<tmp>")


def compare(name: str, got: bytes) -> None:
    golden = GOLDEN / f"{name}.out"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(got)
    assert golden.is_file(), f"no golden {golden.name}: run with HZNCTL_UPDATE_GOLDEN=1"
    assert got == golden.read_bytes(), f"{name}: the output changed"


RECIPIENT = "age1g72upzyl0a2uqfarcx0gl9854mn7tktqdrj754gqu79mc9r83shqnr2fkv"  # worker-eu-1's
BOB_AUTHOR = ("--author", BOB[1])
CASES: dict[str, tuple[str, ...]] = {
    **{f"validate-{f}": ("validate", "inventory", "--format", f)
       for f in ("text", "json", "github")},
    "validate-quiet": ("validate", "inventory", "-q"),
    "validate-strict-github": ("validate", "inventory", "--strict", "--format", "github"),
    **{f"validate-invalid-{f}": ("validate", "broken", "--format", f)
       for f in ("text", "json", "github")},
    "validate-invalid-quiet": ("validate", "broken", "-q"),
    "validate-missing": ("validate", "nowhere"),
    "validate-bad-format": ("validate", "inventory", "--format", "yaml"),
    **{f"compile-{f}": ("compile", "inventory", "--out", f"out-{f}", "--format", f)
       for f in ("text", "json", "github")},
    "compile-unchanged": ("compile", "inventory", "--out", "new", "--host", "worker-eu-1"),
    **{f"compile-invalid-{f}": ("compile", "broken", "--out", "out-broken", "--format", f)
       for f in ("text", "json", "github")},
    **{f"plan-{f}": ("plan", "old", "new", "--format", f) for f in ("text", "json", "markdown")},
    "plan-detailed": ("plan", "old", "new", "--detailed-exitcode"),
    "plan-same-detailed": ("plan", "old", "old", "--detailed-exitcode"),
    **{f"plan-base-{f}": ("plan", "--base", "main", "inventory", "--format", f)
       for f in ("text", "json", "markdown")},
    "plan-base-invalid": ("plan", "--base", "main", "broken", "--format", "json"),
    "plan-usage": ("plan", "old"),
    **{f"policy-{f}": ("policy", "check", "inventory", "--base", "main", *BOB_AUTHOR,
                       "--format", f) for f in ("text", "json", "github")},
    **{f"policy-allowed-{f}": ("policy", "check", "inventory", "--base", "main", "--author",
                               ALICE[1], "--format", f) for f in ("text", "json", "github")},
    **{f"log-{f}": ("log", "inventory", "--format", f) for f in ("text", "json", "markdown")},
    "log-empty": ("log", "inventory", "--since", "HEAD"),
    **{f"secrets-status-{f}": ("secrets", "status", "inventory", "--format", f)
       for f in ("text", "json")},
    **{f"secrets-sync-check-{f}": ("secrets", "sync", "inventory", "--check", "--format", f)
       for f in ("text", "json")},
    **{f"import-{f}": ("import", "supervisord", "worker-new-1", "laravel-worker.conf",
                       "--environment", "production", "--age-recipient", RECIPIENT, "--dry-run",
                       "--format", f)
       for f in ("text", "json")},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_bytes_of_each_command_and_format(site: Path, name: str) -> None:
    args = CASES[name]
    if name.startswith("import-"):
        shutil.copy(IMPORT_CORPUS / "laravel-worker.conf", site / "laravel-worker.conf")
    compare(name, transcript(args, _run(site, *args), site))
