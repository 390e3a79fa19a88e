"""The deploy and health workflows, run here step by step (tests/workflow_runner.py)
against real services: the demo's redis-servers and supervisord stand in for a worker
host and the Redis fleet. A merge deploys (compile job, then the host's deploy job keeps
its record); a scheduled health run leaves its five reports, its job summary and a
history the next run carries on."""

from __future__ import annotations

import json

import pytest
import yaml

from hznctl.demo import Demo, DemoOptions, find_source
from tests.support import REPO, wait_for
from tests.workflow_runner import run_job

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
WORKFLOWS = REPO / ".github" / "workflows"


@pytest.fixture
def site(tmp_path):
    demo = Demo(DemoOptions(find_source(REPO / "demo"), tmp_path / "site"),
                lambda kind, text: None)
    try:
        demo.start()
        yield demo
    finally:
        demo.close()


def test_a_merge_deploys_and_keeps_the_record(site, tmp_path):
    compile_run = run_job(WORKFLOWS / "deploy.yml", "compile", cwd=site.root,
                          scratch=tmp_path / "compile-runner",
                          values={"inputs.application": ""})
    assert compile_run.ok, [(s.name, s.output) for s in compile_run.steps]
    hosts = json.loads(compile_run.outputs["hosts"]["hosts"])
    assert hosts == ["demo-host"]
    assert json.loads(compile_run.outputs["hosts"]["restart_hosts"]) == []
    for host in hosts:  # the matrix
        deploy_run = run_job(WORKFLOWS / "deploy.yml", "deploy", cwd=site.root,
                             scratch=tmp_path / f"deploy-{host}", values={"matrix.host": host})
        assert deploy_run.ok, [(s.name, s.output) for s in deploy_run.steps]
    record = json.loads((site.root / "deploy-record.json").read_text())
    assert record["result"] == "ok" and record["host"] == "demo-host"
    assert "billing-default" in record["plan"]["added"]
    assert site.supervisord is not None
    wait_for(lambda: all(p["statename"] == "RUNNING" for p in site.supervisord.processes()),
             timeout=60, what="the deployed workers RUNNING")
    assert _artifact_paths("deploy.yml", "deploy", "Keep the deploy record") == [
        "deploy-record.json"]


def test_a_dispatch_with_an_application_restarts_its_workers_on_its_hosts(site, tmp_path):
    _compile_and_deploy(site, tmp_path)
    assert site.supervisord is not None
    wait_for(lambda: all(p["statename"] == "RUNNING" for p in site.supervisord.processes()),
             timeout=60, what="the deployed workers RUNNING")
    before = {f"{p['group']}:{p['name']}": p["pid"] for p in site.supervisord.processes()}
    values = {"inputs.application": "reports"}
    compile_run = run_job(WORKFLOWS / "deploy.yml", "compile", cwd=site.root,
                          scratch=tmp_path / "dispatch-compile", values=values)
    assert compile_run.ok, [(s.name, s.output) for s in compile_run.steps]
    hosts = json.loads(compile_run.outputs["hosts"]["restart_hosts"])
    assert hosts == ["demo-host"]
    for host in hosts:
        run = run_job(WORKFLOWS / "deploy.yml", "restart", cwd=site.root,
                      scratch=tmp_path / f"restart-{host}",
                      values={**values, "matrix.host": host})
        assert run.ok, [(s.name, s.output) for s in run.steps]
    record = json.loads((site.root / "restart-record.json").read_text())
    assert record["command"] == "restart" and record["result"] == "ok"
    after = {f"{p['group']}:{p['name']}": p["pid"] for p in site.supervisord.processes()}
    for name, pid in before.items():
        assert (after[name] != pid) == name.startswith("reports-"), name
    assert any(name.startswith("reports-") for name in before)
    assert _artifact_paths("deploy.yml", "restart", "Keep the restart record") == [
        "restart-record.json"]
    # An application that runs nowhere fails the dispatch before any host is touched.
    nowhere = run_job(WORKFLOWS / "deploy.yml", "compile", cwd=site.root,
                      scratch=tmp_path / "dispatch-nowhere",
                      values={"inputs.application": "no-such-app"})
    assert not nowhere.ok
    assert "no host runs a worker group of the application no-such-app" in (
        nowhere.step("List the hosts to deploy").output)


def _compile_and_deploy(site, tmp_path) -> None:
    compile_run = run_job(WORKFLOWS / "deploy.yml", "compile", cwd=site.root,
                          scratch=tmp_path / "compile-runner",
                          values={"inputs.application": ""})
    assert compile_run.ok, [(s.name, s.output) for s in compile_run.steps]
    deploy_run = run_job(WORKFLOWS / "deploy.yml", "deploy", cwd=site.root,
                         scratch=tmp_path / "deploy-demo-host",
                         values={"matrix.host": "demo-host"})
    assert deploy_run.ok, [(s.name, s.output) for s in deploy_run.steps]


def test_a_scheduled_health_run_leaves_reports_and_carries_its_history(site, tmp_path):
    key = (site.root / "keys/health-runner.agekey").read_text()
    values = {"secrets.HZNCTL_HEALTH_AGE_KEY": key, "github.token": "unused",
              "github.event.repository.default_branch": "main"}
    # No GitHub API here: the previous-run lookup fails fast and the run starts a history.
    env = {"GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_REPOSITORY": "acme/queues",
           "HZNCTL_AGE_KEY_FILE": "", "SOPS_AGE_KEY_FILE": ""}
    for number in (1, 2):
        scratch = tmp_path / f"health-{number}"
        run = run_job(WORKFLOWS / "health.yml", "health", cwd=site.root, scratch=scratch,
                      values=values, env=env)
        assert run.ok, [(s.name, s.output) for s in run.steps]
        assert "Redis health: ok" in run.summary
        assert not (scratch / "health.agekey").exists()  # the key does not outlive the job
        assert key.splitlines()[-1] not in run.summary
    for path in _artifact_paths("health.yml", "health", "Keep the reports"):
        assert (site.root / path).is_file(), path
    history = _artifact_paths("health.yml", "health", "Carry the history to the next run")
    lines = (site.root / history[0]).read_text().splitlines()
    assert len(lines) == 2  # the second run read the first one's history and appended


def _artifact_paths(workflow, job, step_name):
    data = yaml.safe_load((WORKFLOWS / workflow).read_text())
    step = next(s for s in data["jobs"][job]["steps"] if s.get("name") == step_name)
    return [line.strip() for line in step["with"]["path"].splitlines() if line.strip()]
