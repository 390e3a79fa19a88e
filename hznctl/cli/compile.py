"""`hznctl compile`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from hznctl.cli.options import absolute_path, inventory_argument, jobs_option, shown
from hznctl.cli.output import format_option, human, show
from hznctl.cli.terminal import Progress

if TYPE_CHECKING:
    from hznctl.pipeline import CompiledInto


class Compiled(NamedTuple):
    """What a compile wrote, as the command shows it."""

    out: Path
    result: CompiledInto
    hosts: list[str]  # every host and cluster, sorted


def render_json(compiled: Compiled) -> str:
    result, written = compiled.result, compiled.result.written
    payload: dict[str, Any] = {
        "out": str(compiled.out), "written": written.written, "unchanged": written.unchanged,
        "removed": written.removed,
        "programs": {h: b.groups for h, b in result.hosts.items()},
        "deployments": {c: sorted(t.manifest.deployments) for c, t in result.trees.items()}}
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def render_text(compiled: Compiled) -> str:
    result, out, lines = compiled.result, compiled.out, []
    written = result.written
    for host in compiled.hosts:
        state = "written" if host in written.written else "unchanged"
        if host in result.trees:
            tree = result.trees[host]
            lines.append(f"{shown(out / host)}: {len(tree.manifest.deployments)} Deployment(s), "
                         f"{len(tree.secrets)} Secret(s), {state}")
            continue
        bundle = result.hosts[host]
        lines.append(f"{shown(out / host)}: {len(bundle.groups)} program(s), "
                     f"{bundle.processes} process(es), {state}")
    for host in written.removed:
        lines.append(f"{shown(out / host)}: removed (host no longer in the inventory)")
    return "".join(line + "\n" for line in lines)


@click.command("compile")
@inventory_argument
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              callback=absolute_path,
              help="Folder of host bundles to write (DIR/<host>/).")
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="Compile only this host (repeatable); other hosts' bundles are kept.")
@click.option("--target", "target", type=click.Choice(["supervisord", "kubernetes"]),
              help="Compile only the hosts of this target; other hosts' bundles are kept.")
@click.option("--identity", "identities", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="age identity that reads the secrets of clusters' new or changed Secrets "
              "(default: $HZNCTL_AGE_KEY_FILE or $SOPS_AGE_KEY_FILE; repeatable).")
@format_option("compile")
@jobs_option
def compile_command(path: Path, out: Path, hosts: tuple[str, ...], target: str | None,
                    identities: tuple[Path, ...], output_format: str,
                    jobs: int | None) -> int:
    """Compile the inventory at PATH into one bundle per host in --out.

    A supervisord host's bundle holds its program files; a Kubernetes cluster's
    (target: kubernetes) is a kustomize tree whose Secrets are encrypted for the cluster
    (see docs/kubernetes.md). Validates first (an invalid inventory writes nothing, exit 1).
    Writes atomically; bundles of removed hosts and programs disappear; an unchanged
    recompile touches no file. Exit 0 on success.
    """
    from hznctl.gitrev import revision
    from hznctl.pipeline import compile_into
    from hznctl.targets.kubernetes.target import identities_for_compile

    bar = Progress("compiling", enabled=human(output_format))

    def progress(built: int, total: int) -> None:
        if bar.bar is None and bar.enabled:
            bar.start(total)
        bar.advance(steps=built)

    try:
        # Each bundle is written as it is built; `out` changes only once all are.
        result = compile_into(path, out, identities_for_compile(identities), hosts=hosts,
                              revision=revision(path), jobs=jobs, target=target,
                              progress=progress)
    finally:
        bar.finish()
    if not result.ok:
        return show("invalid-compile", output_format,
                    (result.diagnostics, "invalid inventory: nothing compiled"), ok=False)
    return show("compile", output_format,
                Compiled(out, result, sorted({*result.hosts, *result.trees})))
