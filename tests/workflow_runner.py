"""Runs the `run:` steps of a GitHub workflow job here, the way a runner would.

Not a GitHub Actions emulator: `uses:` steps (checkout, installing hznctl, artifacts) are
skipped, since the tests provide what they would. What it does run as on GitHub: the
shell (`bash -eo pipefail` with `shell: bash`, `bash -e` otherwise), the `${{ … }}`
expressions the tests give values for (an unknown one fails the test), `if:` with
success()/always()/!cancelled() and step outputs, $GITHUB_ENV, $GITHUB_OUTPUT and
$GITHUB_STEP_SUMMARY between steps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepResult:
    name: str
    skipped: bool
    code: int = 0
    output: str = ""


@dataclass
class JobRun:
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    @property
    def ok(self) -> bool:
        return all(s.code == 0 for s in self.steps)


def run_job(workflow: Path, job: str, *, cwd: Path, scratch: Path,
            values: dict[str, str], env: dict[str, str] | None = None) -> JobRun:
    data = yaml.safe_load(workflow.read_text())
    spec = data["jobs"][job]
    default_shell = (data.get("defaults") or {}).get("run", {}).get("shell")
    scratch.mkdir(parents=True, exist_ok=True)
    files = {name: scratch / name for name in ("env", "output", "summary")}
    for path in files.values():
        path.write_text("")
    state = JobRun()
    base_env = {**os.environ, **(env or {}),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "RUNNER_TEMP": str(scratch), "GITHUB_ENV": str(files["env"]),
                "GITHUB_STEP_SUMMARY": str(files["summary"])}
    base_env.update({k: _expand(str(v), values, state) for k, v in
                     (spec.get("env") or {}).items()})
    for index, step in enumerate(spec["steps"]):
        name = step.get("name") or step.get("uses") or f"step {index + 1}"
        if "uses" in step or not _should_run(step.get("if"), values, state):
            state.steps.append(StepResult(name, skipped=True))
            continue
        files["output"].write_text("")
        step_env = {**base_env, **_github_env(files["env"]),
                    "GITHUB_OUTPUT": str(files["output"])}
        step_env.update({k: _expand(str(v), values, state)
                         for k, v in (step.get("env") or {}).items()})
        script = _expand(step["run"], values, state)
        shell = step.get("shell", default_shell)
        flags = ["--noprofile", "--norc", "-eo", "pipefail"] if shell == "bash" else ["-e"]
        done = subprocess.run(["bash", *flags, "-c", script], cwd=cwd, env=step_env,
                              capture_output=True, text=True, timeout=300, check=False)
        state.steps.append(StepResult(name, False, done.returncode, done.stdout + done.stderr))
        if "id" in step:
            state.outputs[step["id"]] = _key_values(files["output"])
    state.summary = files["summary"].read_text()
    return state


def _expand(text: str, values: dict[str, str], state: JobRun) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        step_output = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        if step_output:
            return state.outputs.get(step_output.group(1), {}).get(step_output.group(2), "")
        if expression not in values:
            raise KeyError(f"the test gives no value for ${{{{ {expression} }}}}")
        return values[expression]

    return EXPRESSION.sub(value, text)


def _should_run(condition: Any, values: dict[str, str], state: JobRun) -> bool:
    failed = any(s.code != 0 for s in state.steps)
    if condition is None:
        return not failed
    text = EXPRESSION.sub(r"\1", str(condition)).strip()
    if text in ("always()", "!cancelled()"):
        return True
    match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+) != ''", text)
    if match:
        found = state.outputs.get(match.group(1), {}).get(match.group(2), "")
        return bool(found) and not failed
    raise ValueError(f"the runner does not understand if: {condition}")


def _github_env(path: Path) -> dict[str, str]:
    return _key_values(path)


def _key_values(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key] = value
    return found
