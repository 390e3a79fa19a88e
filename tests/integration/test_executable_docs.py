"""Executable docs: the README's quick start, the README `hznctl init` writes, and every task
of docs/operators.md, run as an operator would type them.

The commands are read from the documents' shell blocks at test time and run with bash in a
new `hznctl init` repository (a clone with an `origin`, real commits and merges), with the
installed `hznctl` on PATH, relative paths, the real sops and age keys, and a real
redis-server for the health probe: a doc change that breaks a command fails here.

What the test adds, and only that, is what the documents say happens outside a shell:
- the operator's answers: the password each prompt reads (on stdin), the public key that
  `secrets keygen` printed where a document shows `age1…`;
- the hand edits the prose describes (a connection binding, a group's new placement);
- the world: DNS (each connection is pointed at the test's redis-server on loopback), the
  Redis side of a rotation (`ACL SETUSER`), a host's own folders (`/etc/hznctl`,
  `/var/lib/hznctl` are folders of the test), merges (commit and push to `origin/main`),
  and the deploy records an operator downloads (an empty `deploys.jsonl`: no host here).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import REPO, RedisServer, start_redis, wait_for

pytestmark = pytest.mark.integration

OPERATORS = REPO / "docs" / "operators.md"
DEPLOY = REPO / "docs" / "deploy.md"
README = REPO / "README.md"
HOST_FOLDERS = ("/etc/hznctl", "/var/lib/hznctl")
# Shell lines of the documents that are not run here, and where they are tested instead.
NOT_RUN = {
    "make run": "CI runs it (.ci/run); scripts/run is the main job",
    "make test": "the suite itself",
    "make demo": "tests/integration/test_demo.py",
    "python3 -m pip install": "test_the_scaffold_install_line_installs_from_a_clone",
}


@dataclass(frozen=True)
class Block:
    section: str  # the heading the block is under ("" before the first)
    lines: tuple[str, ...]  # one shell command each (continuations joined)


def shell_blocks(text: str) -> list[Block]:
    blocks, section = [], ""
    for part in re.split(r"(^#{2,3} .*$)", text, flags=re.M):
        if re.match(r"^#{2,3} ", part):
            section = part.lstrip("#").strip()
            continue
        for body in re.findall(r"^ *```(?:sh|bash)\n(.*?)^ *```", part, flags=re.S | re.M):
            joined = re.sub(r"\\\n\s*", " ", body)
            lines = tuple(line.strip() for line in joined.splitlines()
                          if line.strip() and not line.strip().startswith("#"))
            blocks.append(Block(section, lines))
    return blocks


def _not_run(line: str) -> bool:
    return any(line.startswith(prefix) for prefix in NOT_RUN)


@dataclass
class Operator:
    """Runs documented command lines in a shell, as the operator would, and checks them."""

    tmp: Path
    cwd: Path
    env: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)
    public_key: str | None = None
    machine: str = "worker-1"  # the host a host-side command runs on
    ran: list[str] = field(default_factory=list)

    def machine_folder(self, folder: str) -> Path:
        return self.tmp / "machines" / self.machine / folder.lstrip("/")

    def host_path(self, line: str) -> str:
        for folder in HOST_FOLDERS:
            line = line.replace(folder, str(self.machine_folder(folder)))
        return line

    def _stdin(self, argv: list[str]) -> str | None:
        words = [a for a in argv if not a.startswith("-")]
        for command in (["new", "connection"], ["secrets", "set"]):
            if words[1:3] == command:
                return self.passwords[words[3]] + "\n"
        if words[1:3] == ["secrets", "rotate"] and "--password" in argv:
            return self.passwords[argv[argv.index("--connection") + 1]] + "\n"
        return None

    def run(self, line: str, *, expect: int = 0, where: str = "") -> str:
        self.ran.append(line)
        if line.startswith("export "):
            name, _, value = line.split(" ", 1)[1].split("#", 1)[0].strip().partition("=")
            self.env[name] = value
            return ""
        if "age1…" in line:
            assert self.public_key, f"{where}: `{line}` needs the key `secrets keygen` printed"
            line = line.replace("age1…", self.public_key)
        command = self.host_path(line)
        argv = shlex.split(command, comments=True)
        assert argv[0] == "hznctl", f"{where}: `{line}` is not a hznctl command"
        for folder in HOST_FOLDERS:
            self.machine_folder(folder).parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env,
                              input=self._stdin(argv), capture_output=True, text=True,
                              timeout=120, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == expect, (
            f"{where}: `{line}` exited {done.returncode} (expected {expect}):\n{output}")
        assert "Traceback" not in output and "internal error" not in output, output
        if argv[1:3] == ["secrets", "keygen"]:
            self.public_key = done.stdout.strip()
        return output

    def serve(self, line: str, *, where: str = "") -> str:
        """A long-running command (`hznctl health serve`), as written: started, asked for
        /healthz until it answers 200, then stopped with SIGTERM (exit 0)."""
        import urllib.request

        self.ran.append(line)
        argv = shlex.split(line, comments=True)
        listen = argv[argv.index("--listen") + 1]
        process = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=self.cwd, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            def healthy() -> bool:
                assert process.poll() is None, f"{where}: `{line}` ended early"
                try:
                    with urllib.request.urlopen(f"http://{listen}/healthz", timeout=2) as r:
                        return r.status == 200
                except OSError:
                    return False
            wait_for(healthy, timeout=60, what=f"`{line}` to answer /healthz")
        finally:
            process.terminate()
            out, _ = process.communicate(timeout=30)
        assert process.returncode == 0, f"{where}: `{line}` exited {process.returncode}:\n{out}"
        assert "Traceback" not in out, out
        return out

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.cwd, env=self.env, check=True,
                              capture_output=True, text=True, timeout=60).stdout

    def merge(self, title: str) -> None:
        """The pull request is merged: its commit is what `origin/main` now holds."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", title)
        self.git("push", "-q", "origin", "HEAD:main")
        self.git("fetch", "-q", "origin")


class Doc:
    """A document's shell blocks, handed out in order; none may be left unrun."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.blocks = shell_blocks(text)
        self.next = 0

    def block(self, section: str) -> Block:
        assert self.next < len(self.blocks), f"{self.name}: no more shell blocks"
        block = self.blocks[self.next]
        assert block.section == section, (
            f"{self.name}: expected the next block under '{section}', found one under "
            f"'{block.section}': {block.lines}")
        self.next += 1
        return block

    def run(self, op: Operator, section: str, expect: dict[str, int] | None = None) -> str:
        """Run the next block (under ``section``); returns everything it printed."""
        block = self.block(section)
        out = []
        for line in block.lines:
            if _not_run(line):
                continue
            code = next((c for prefix, c in (expect or {}).items() if line.startswith(prefix)),
                        0)
            out.append(op.run(line, expect=code, where=f"{self.name} § {section}"))
        return "\n".join(out)

    def finished(self) -> None:
        left = self.blocks[self.next:]
        assert not left, f"{self.name}: blocks this test does not run yet: {left}"


def _env(tmp: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Olga Operator\n\temail = olga@example.com\n"
        "[init]\n\tdefaultBranch = main\n")
    keep = {k: v for k, v in os.environ.items()
            if k in ("LANG", "LC_ALL", "TMPDIR", "HZNCTL_SOPS_BIN")}
    return {**keep, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _point_at(inventory: Path, connection: str, server: RedisServer) -> None:
    """The connection's host name resolves to the test's redis-server (the test's DNS)."""
    path = inventory / "connections" / f"{connection}.yaml"
    text = path.read_text()
    text = re.sub(r"(?m)^host: .*$", "host: 127.0.0.1", text)
    text = re.sub(r"(?m)^port: .*$", f"port: {server.port}", text)
    if "\nport:" not in text:
        text = text.replace("host: 127.0.0.1\n", f"host: 127.0.0.1\nport: {server.port}\n")
    path.write_text(text)


def _scaffold_readme(repo: Path) -> Doc:
    return Doc("README.md written by `hznctl init`", (repo / "README.md").read_text())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    redis = start_redis(tmp, password="pw-main-1")
    try:
        yield tmp, redis
    finally:
        redis.stop()


def test_readme_quick_start_starts_a_repository(world):
    """README § Quick start: `hznctl init`, `cd`, `new host`, `validate`, one shell."""
    tmp, _redis = world
    (tmp / "quick").mkdir()
    block = next(b for b in shell_blocks(README.read_text()) if
                 any(line.startswith("hznctl init") for line in b.lines))
    script = "set -euo pipefail\n" + "\n".join(block.lines) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=tmp / "quick", env=_env(tmp / "quick"),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid: 0 error(s)" in done.stdout
    made = tmp / "quick" / "acme-queues" / "inventory" / "hosts" / "worker-1.yaml"
    assert "role: queue" in made.read_text()


def test_the_operators_day(world):
    """From `hznctl init` to a rotated password, every command of the operator's documents,
    in order; each one's exit code and what it must have changed are checked."""
    tmp, redis = world
    op = Operator(tmp, tmp, _env(tmp))
    op.run("hznctl init acme")
    op.cwd = tmp / "acme"
    inventory = op.cwd / "inventory"
    origin = tmp / "origin.git"
    op.git("init", "-q")
    op.git("add", "-A")
    op.git("commit", "-q", "-m", "hznctl init")
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, env=op.env)
    op.git("remote", "add", "origin", str(origin))
    op.git("push", "-q", "origin", "main")
    op.git("fetch", "-q", "origin")

    # -- the README hznctl init wrote: the first application ---------------------------
    readme = _scaffold_readme(op.cwd)
    readme.run(op, "Everyday changes")  # the install line (not run here)
    op.passwords["redis-main"] = "pw-main-1"
    out = readme.run(op, "Everyday changes")
    assert "+ billing-default: starts billing-default_00, billing-default_01" in out
    _point_at(inventory, "redis-main", redis)
    readme.finished()
    op.merge("billing's workers on worker-1")

    guide = Doc("docs/operators.md", OPERATORS.read_text())
    checks = guide.block("")  # the checks before every pull request, run after each task

    def before_the_pull_request() -> str:
        return "\n".join(op.run(line, where="docs/operators.md § (checks)")
                         for line in checks.lines)

    assert "No changes" in before_the_pull_request()

    # -- Add a connection -----------------------------------------------------------------
    op.passwords["redis-cache"] = "pw-cache-1"
    guide.run(op, "Add a connection")
    assert "ENC[AES256_GCM" in (inventory / "secrets" / "redis-cache.yaml").read_text()
    billing = inventory / "applications" / "billing.yaml"
    text = billing.read_text()  # step 2's hand edit: the application binds the connection
    billing.write_text(text.replace("  primary: true\n", "  primary: true\n"
                                    "- connection: redis-cache\n", 1))
    guide.run(op, "Add a connection")
    _point_at(inventory, "redis-cache", redis)
    out = before_the_pull_request()
    assert "+ billing-cache-warmup" in out and "billing-default" not in out.split("+")[0]
    op.merge("add redis-cache")

    # -- Rotate a password ----------------------------------------------------------------
    client = redis.client()
    client.execute_command("ACL", "SETUSER", "default", ">pw-main-2")  # step 1, on Redis
    op.passwords["redis-main"] = "pw-main-2"
    out = guide.run(op, "Rotate a password")
    assert "~ billing-default: password rotated (secrets/redis-main.yaml)" in out
    assert "billing-cache-warmup" not in out
    client.execute_command("ACL", "SETUSER", "default", "<pw-main-1")  # step 3, after deploy
    redis.password = "pw-main-2"
    client = redis.client()
    before_the_pull_request()
    op.merge("rotate redis-main's password")
    client.execute_command("ACL", "SETUSER", "default", ">pw-main-3")
    op.passwords["redis-main"] = "pw-main-3"
    out = guide.run(op, "Rotate a password")
    assert "new password and data key" in out
    client.execute_command("ACL", "SETUSER", "default", "<pw-main-2")
    redis.password = "pw-main-3"
    op.merge("rotate redis-main's password and data key")

    # -- Add a host -----------------------------------------------------------------------
    op.machine = "worker-eu-3"
    key = op.machine_folder("/etc/hznctl") / "age.key"
    guide.run(op, "Add a host")
    assert key.stat().st_mode & 0o777 == 0o600 and op.public_key
    out = guide.run(op, "Add a host")
    assert "wrote inventory/hosts/worker-eu-3.yaml" in out
    assert "wrote inventory/secrets/redis-main.yaml" in out
    plan = before_the_pull_request()
    assert "worker-eu-3: 2 to add" in plan
    # worker-1's secrets were only re-encrypted for the new host: nothing restarts there.
    assert ("worker-1: 0 to add, 0 to change, 0 to remove, 2 unchanged" in plan
            and "= secrets/redis-main.yaml: re-encrypted for other recipients" in plan), plan
    op.merge("add worker-eu-3")

    # -- Move a worker group --------------------------------------------------------------
    text = billing.read_text()
    moved = re.sub(r"(- name: cache-warmup\n(?:    .*\n)*?)    host_labels:\n      role: queue\n",
                   r"\1    hosts: [worker-eu-3]\n", text)
    assert moved != text, text
    billing.write_text(moved)
    out = guide.run(op, "Move a worker group")
    assert "- billing-cache-warmup: stops billing-cache-warmup_00" in out
    before_the_pull_request()
    op.merge("move cache-warmup to worker-eu-3")

    # -- Read a health report -------------------------------------------------------------
    guide.run(op, "Read a health report")
    report = json.loads((op.cwd / "reports" / "report.json").read_text())
    statuses = {c["connection"]: c["status"] for c in report["connections"]}
    assert statuses == {"redis-main": "ok"}, report
    for name in ("summary.md", "junit.xml", "metrics.prom", "index.html"):
        assert (op.cwd / "reports" / name).is_file()

    # -- Run the monitor ------------------------------------------------------------------
    (serve_line,) = guide.block("Run the monitor").lines
    out = op.serve(serve_line, where="docs/operators.md § Run the monitor")
    assert "listening on http://127.0.0.1:9530" in out

    # -- When health is red -----------------------------------------------------------------
    op.machine = "worker-1"
    out = guide.run(op, "When health is red", expect={"hznctl status": 1})
    assert "nothing has been deployed" in out
    (op.cwd / "deploys.jsonl").write_text("")
    out = guide.run(op, "When health is red")
    assert "move cache-warmup to worker-eu-3" in out
    guide.finished()


def test_every_documented_shell_line_is_run_or_accounted_for():
    """A shell line in the operator's documents is a hznctl command (run above) or one of
    NOT_RUN, each tested elsewhere."""
    from hznctl.scaffold.files import render

    texts = {"README.md": README.read_text(), "docs/operators.md": OPERATORS.read_text(),
             "docs/deploy.md": DEPLOY.read_text(),
             "scaffold README": render("README.md", title="acme", install=(
                 'python3 -m pip install "hznctl @ git+https://github.com/o/r@v1"'))}
    for name, text in texts.items():
        for block in shell_blocks(text):
            for line in block.lines:
                ok = line.startswith(("hznctl ", "export ", "cd ", "eval ", "_HZNCTL_COMPLETE"))
                assert ok or _not_run(line), f"{name} § {block.section}: `{line}`"


def test_the_scaffold_install_line_installs_from_a_clone(tmp_path):
    """The install line `hznctl init` writes installs hznctl from the source the action
    installs in CI (the repository at the action's ref). Here the GitHub URL is a local
    clone of this repository (loopback only: no index, no build isolation)."""
    from hznctl.scaffold.repository import install_line

    line = install_line("acme/hznctl-fork@v9.9")
    assert line == ('python3 -m pip install '
                    '"hznctl @ git+https://github.com/acme/hznctl-fork@v9.9"')
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)],
                   check=True, timeout=120)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, check=True,
                          capture_output=True, text=True).stdout.strip()
    requirement = shlex.split(line)[-1].replace(
        "https://github.com/acme/hznctl-fork@v9.9", f"file://{clone}@{head}")
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--disable-pip-version-check", "-w", str(wheels),
         requirement], capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next(wheels.glob("hznctl-*.whl"))
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    done = subprocess.run([str(target / "bin" / "hznctl"), "init", str(tmp_path / "repo")],
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # The wheel carries what init and compile read: templates, scaffold files, schemas.
    assert (tmp_path / "repo" / ".github" / "workflows" / "deploy.yml").is_file()


def test_deploy_md_on_a_host(tmp_path):
    """docs/deploy.md's commands on a host: a real supervisord (its unix socket, and an
    HTTP server with a user and password for the line that names them), real RQ workers,
    the bundle `hznctl compile` wrote. The document's host is this test's host, its
    supervisord port this one's, and `/etc/hznctl`, `/var/lib/hznctl` are the host's
    folders here."""
    from tests.integration.deploy_fixtures import HOST, _build_site
    from tests.support import free_port, start_supervisord

    port = free_port()
    redis_a = start_redis(tmp_path, password="pw-a-1")
    redis_b = start_redis(tmp_path, password="pw-b-1")
    sup = start_supervisord(tmp_path, extra_config=(
        f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=deployer\npassword=s3cret\n"))
    try:
        site = _build_site(tmp_path, sup, {"redis-a": redis_a, "redis-b": redis_b})
        op = Operator(tmp_path, tmp_path, _env(tmp_path))
        op.machine_folder = lambda folder: {  # type: ignore[method-assign]
            "/etc/hznctl": tmp_path / "etc", "/var/lib/hznctl": site.state}[folder]
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "supervisor.password").write_text("s3cret\n")
        op.run(f"hznctl compile {site.inventory.relative_to(tmp_path)} --out out")
        doc = Doc("docs/deploy.md", DEPLOY.read_text().replace("worker-eu-1", HOST).replace(
        "hznctl restart billing", "hznctl restart jobs")
                  .replace("127.0.0.1:9001", f"127.0.0.1:{port}"))
        out = doc.run(op, "")
        assert "result: ok" in out and '"result": "unchanged"' in out, out
        assert "in sync" in out
        records = (site.state / "deploys.jsonl").read_text().splitlines()
        results = [json.loads(r)["result"] for r in records]
        # The first deploy (it learns the host's name), four that change nothing (the dry
        # run writes no record), and the restart of a code release.
        assert results == ["ok", "unchanged", "unchanged", "unchanged", "unchanged", "ok"]
        doc.finished()
    finally:
        sup.stop()
        redis_a.stop()
        redis_b.stop()
