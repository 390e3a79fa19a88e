"""Decrypt 1,000 SOPS secret files: in-process (pyrage + AES-GCM, MAC verified) vs the binary.

Target: in-process ≥ 20× faster than one `sops decrypt` process per file (the way a bulk
reader would otherwise call the real binary: the Go binary directly, no Python shim).
Both sides decrypt the same files with the same age identity and check the plaintext.

The files are real sops output: up to 25 distinct files made by the sops binary, copied to
reach the count (encrypting 1,000 files with the binary would take longer than the
benchmark). Every copy is a separate path and inode, so the per-file cache never serves one
from another; the cache is cleared before every in-process round.

Full scale: `HZNCTL_BENCH_SCALE=1 .venv/bin/pytest benchmarks/test_decrypt_bench.py
--benchmark-only -p no:cacheprovider -s`.
"""

from __future__ import annotations

import shutil
import time

import pytest

from hznctl.secrets.decrypt import (
    clear_cache,
    decrypt_file,
    load_identities,
)
from hznctl.secrets.sops import run_sops
from tests.support import make_age_key, sops_encrypt

FULL = 1000
DISTINCT = 25
TARGET_RATIO = 20.0


def _count(scale: float) -> int:
    return max(10, round(FULL * scale))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, scale):
    root = tmp_path_factory.mktemp("decrypt-bench")
    key = make_age_key(root / "runner.agekey")
    others = [make_age_key(root / f"host{i}.agekey").recipient for i in range(3)]
    originals = []
    for i in range(min(DISTINCT, _count(scale))):
        originals.append(sops_encrypt({"password": f"bench-password-{i:04d}"},
                                      [key.recipient, *others], root / "src" / f"s{i}.yaml"))
    files = []
    for i in range(_count(scale)):
        target = root / "secrets" / f"conn-{i:04d}.yaml"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(originals[i % len(originals)], target)
        files.append((target, f"bench-password-{i % len(originals):04d}"))
    return load_identities([key.path]), files


def _in_process(identities, files) -> int:
    clear_cache()
    for path, expected in files:
        assert decrypt_file(path, identities) == {"password": expected}
    return len(files)


def _binary(identities, files) -> int:
    env = {"SOPS_AGE_KEY": "\n".join(identities.lines)}
    for path, expected in files:
        out = run_sops(["decrypt", "--extract", '["password"]', str(path)], what="bench",
                       env=env)
        assert out.decode() == expected
    return len(files)


def test_decrypt_in_process(benchmark, corpus):
    identities, files = corpus
    benchmark.extra_info["files"] = len(files)
    done = benchmark.pedantic(_in_process, args=(identities, files), rounds=5, iterations=1,
                              warmup_rounds=1)
    assert done == len(files)


def test_decrypt_with_binary(benchmark, corpus):
    identities, files = corpus
    benchmark.extra_info["files"] = len(files)
    done = benchmark.pedantic(_binary, args=(identities, files), rounds=1, iterations=1)
    assert done == len(files)


def test_in_process_is_20x_faster(corpus):
    """The ratio itself, best of a few in-process rounds against one binary round."""
    identities, files = corpus
    sample = files[: max(10, min(len(files), 50))]
    binary_start = time.perf_counter()
    _binary(identities, sample)
    binary = (time.perf_counter() - binary_start) / len(sample)
    in_process = min(_timed(identities, files) for _ in range(3)) / len(files)
    ratio = binary / in_process
    print(f"\ndecrypt per file: in-process {in_process * 1e3:.3f} ms, "
          f"sops binary {binary * 1e3:.1f} ms, ratio {ratio:.0f}x ({len(files)} files)")
    assert ratio >= TARGET_RATIO


def _timed(identities, files) -> float:
    start = time.perf_counter()
    _in_process(identities, files)
    return time.perf_counter() - start
