"""A compile writes each bundle as it is built and lets it go.

The streaming writer must leave the very tree the in-memory write leaves, whatever the old
tree, the batches and the pruning; a failure part-way must leave the old output as it
was; and the build must let go of a program only once no host left needs it (never
building one twice) and of a bundle once it is written.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hznctl.bundle.writer as writer_module
import hznctl.targets.supervisord.build as build_module
from hznctl.bundle.manifest import HostBundle
from hznctl.bundle.writer import BundleWriter, write_bundles
from hznctl.compile import parallel
from hznctl.compile.compiler import CompileError
from hznctl.compile.programs import HostCompiler, ProgramBuilder
from hznctl.inventory import load_inventory
from hznctl.pipeline import build_bundles, compile_into
from hznctl.placement import groups_by_host
from hznctl.targets.kubernetes.target import identities_for_compile
from tests.compile_support import (
    bundle_of,
    list_without_inode_numbers,
    recording_forks,
    stats,
    tree,
    tree_shape,
)
from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY

# A few contents, so that hosts share some (hard links) and differ in others.
CONTENTS = [b"a\n", b"b\n" * 40, b"[program:x]\nnumprocs=1\n", b"sops: {}\n" * 90]
PATHS = ["programs/a.conf", "programs/b.conf", "exec/a.json", "secrets/deep/s.yaml"]
fleets = st.dictionaries(
    st.sampled_from([f"h{n}" for n in range(5)]),
    st.dictionaries(st.sampled_from(PATHS), st.sampled_from(CONTENTS), min_size=1),
    max_size=5)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=fleets, new=fleets, prune=st.booleans(),
       batch=st.sampled_from([1, 100, 5000, None]))
def test_a_streamed_write_leaves_the_tree_the_whole_write_leaves(tmp_path_factory, old, new,
                                                                  prune, batch):
    base = tmp_path_factory.mktemp("stream")
    streamed, whole = base / "streamed" / "out", base / "whole" / "out"
    old_bundles = {h: bundle_of(h, f) for h, f in old.items()}
    new_bundles = {h: bundle_of(h, f) for h, f in new.items()}
    for out in (streamed, whole):
        out.parent.mkdir(parents=True)
        write_bundles(out, old_bundles)
    before = stats(streamed) if streamed.exists() else {}
    expected = write_bundles(whole, new_bundles, prune=prune)
    with BundleWriter(streamed, prune=prune, batch_bytes=batch) as writer:
        for host in new_bundles:  # in the caller's order, not sorted
            writer.add(host, new_bundles[host])
        result = writer.finish()
    assert result == expected
    assert streamed.exists() == whole.exists()
    if whole.exists():
        assert tree_shape(streamed) == tree_shape(whole)
    if not result.changed:
        assert (stats(streamed) if streamed.exists() else {}) == before  # nothing touched
    # Nothing left beside the output.
    assert {p.name for p in streamed.parent.iterdir()} <= {"out"}


def _fleet() -> dict[str, HostBundle]:
    return {f"h{n}": bundle_of(f"h{n}", {"programs/a.conf": f"[program:a]\n#{n}\n".encode(),
                                       "secrets/s.yaml": CONTENTS[3]}) for n in range(4)}


def test_a_failure_part_way_leaves_the_old_output(tmp_path):
    out = tmp_path / "out"
    write_bundles(out, _fleet())
    before = stats(out)
    changed = {h: bundle_of(h, {**b.files, "exec/new.json": b"{}\n"}) for h, b in _fleet().items()}
    with pytest.raises(CompileError), BundleWriter(out, batch_bytes=1) as writer:
        writer.add("h0", changed["h0"])
        writer.add("h1", changed["h1"])  # both written into the new tree by now
        assert len(list(tmp_path.iterdir())) == 2
        raise CompileError("host h2: cannot build it")
    assert stats(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_unchanged_stream_makes_no_temporary_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_bundles(out, _fleet())
    monkeypatch.setattr(writer_module.tempfile, "mkdtemp",
                        lambda **_: pytest.fail("a temporary folder for an unchanged write"))
    with BundleWriter(out, batch_bytes=1) as writer:
        for host, bundle in _fleet().items():
            assert not writer.add(host, bundle)
        assert not writer.finish().changed


def test_a_bundle_is_let_go_once_written(tmp_path):
    with BundleWriter(tmp_path / "out", batch_bytes=1) as writer:
        refs = []
        for host, bundle in _fleet().items():
            writer.add(host, bundle)
            refs.append(weakref.ref(bundle))
            del bundle
        writer.finish()
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


def test_a_bundle_given_twice_is_refused(tmp_path):
    bundle = _fleet()["h0"]
    with BundleWriter(tmp_path / "out") as writer, pytest.raises(ValueError, match="twice"):
        writer.add("h0", bundle)
        writer.add("h0", bundle)


# --- the build lets go of what no host left needs ------------------------------------------

@pytest.fixture(scope="module")
def fleet_inventory(tmp_path_factory):
    """A generated fleet: programs shared by neighbouring and far-apart hosts."""
    from benchmarks.generate import generate_inventory, sizes

    root = generate_inventory(tmp_path_factory.mktemp("fleet") / "inventory", **sizes(0.03))
    loaded = load_inventory(root).inventory
    assert loaded is not None
    return loaded


def test_programs_are_let_go_after_their_last_host_and_never_built_twice(fleet_inventory,
                                                                          monkeypatch):
    inventory = fleet_inventory
    placed = groups_by_host(inventory)
    hosts = [h for h in placed if inventory.hosts[h].target.value == "supervisord"]
    probe = ProgramBuilder(inventory, lambda _: "")
    last = {key: n for n, host in enumerate(hosts)
            for key in HostCompiler(inventory.hosts[host], probe).program_keys(placed[host])}
    built: Counter[object] = Counter()
    forgotten: dict[object, int] = {}
    yielded = [0]
    real_build, real_forget = ProgramBuilder._build, ProgramBuilder.forget

    def counting_build(self, sv, app, worker, workers, spec, connection, argv):
        built[(app.slug, worker.name if worker else None, tuple(w.name for w in workers),
               sv, tuple(argv))] += 1
        return real_build(self, sv, app, worker, workers, spec, connection, argv)

    def recording_forget(self, key):
        assert key not in forgotten, "let go of twice"
        forgotten[key] = yielded[0]
        real_forget(self, key)

    monkeypatch.setattr(ProgramBuilder, "_build", counting_build)
    monkeypatch.setattr(ProgramBuilder, "forget", recording_forget)
    streamed = {}
    for host, bundle in build_module.build_each(inventory, hosts, None, None):
        streamed[host] = bundle.all_files()
        yielded[0] += 1
    assert set(built.values()) == {1}, "a program was built again after being let go"
    assert any(n < len(hosts) - 1 for n in last.values()), "no program was let go early"
    # Each key let go right after its last host was handed on, none before.
    assert forgotten == {key: n + 1 for key, n in last.items()}
    # The same bundles as a build that keeps everything to the end.
    monkeypatch.setattr(ProgramBuilder, "forget", lambda self, key: None)
    kept = build_bundles(inventory, hosts=hosts)
    assert streamed == {h: b.all_files() for h, b in kept.items()}


def test_stopping_a_parallel_stream_early_stops_its_builders(fleet_inventory, monkeypatch):
    if not parallel.can_fork():
        pytest.skip("forked workers: Linux only")
    pids = recording_forks(monkeypatch)
    placed = groups_by_host(fleet_inventory)
    hosts = [h for h in placed if fleet_inventory.hosts[h].target.value == "supervisord"]
    stream = parallel.stream_in_parallel(
        lambda run: build_module.build_each(fleet_inventory, run, None, None), hosts,
        [len(placed[h]) for h in hosts], 3)
    assert next(stream)[0] == hosts[0]
    stream.close()
    assert len(pids) == 2
    for pid in pids:  # reaped by the stream: no child is left to wait for
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


# --- compile_into: written as built, the old output kept on a failure --------------------

def _compile(out: Path):
    return compile_into(EXAMPLE_INVENTORY, out,
                        identities_for_compile([DEMO_KEYS / "cluster-eu.agekey"]), jobs=1)


def test_a_build_failing_at_the_last_host_leaves_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _compile(out).ok
    before = stats(out)
    hosts = sorted(p.name for p in out.iterdir())
    real = build_module._host_bundle
    seen = []

    def failing(host, *args):
        seen.append(host.name)
        if len(seen) == 3:
            raise CompileError(f"host {host.name}: cannot build it")
        bundle = real(host, *args)
        return HostBundle(bundle.host, bundle.manifest, {**bundle.files, "exec/x.json": b"1"})

    monkeypatch.setattr(build_module, "_host_bundle", failing)
    with pytest.raises(CompileError, match="cannot build it"):
        _compile(out)
    assert len(seen) == 3 and set(seen) < set(hosts)
    assert stats(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_listings_without_true_inode_numbers_compile_again_reading_every_file(tmp_path,
                                                                               monkeypatch):
    out = tmp_path / "out"
    first = _compile(out)
    expected = tree(out)
    host = next(iter(first.hosts))
    program = next(p for p in (out / host / "programs").iterdir())
    program.unlink()
    program.write_bytes(b"[program:evil]\ncommand=/bin/sh\n")
    program.chmod(0o644)

    list_without_inode_numbers(monkeypatch)
    again = _compile(out)
    assert again.written.written == [host]
    assert tree(out) == expected
