"""The floor of the work ``hznctl health`` cannot skip: read the inventory, decrypt every
password, ask every Redis how it is.

Run as a process (``python -m benchmarks.health_floor INVENTORY IDENTITY TARGETS.json
CONCURRENCY``), doing the least of each part, each with the fastest tool there is:

- every YAML file under the inventory read and composed with PyYAML's C composer (the
  floor ``benchmarks/test_validate_bench.py`` holds validate to), no model, no rule;
- every SOPS file's age stanza decrypted with pyrage (the same Rust library hznctl uses;
  no data-key decryption, no MAC check);
- the raw RESP client of ``benchmarks/raw_resp.py`` (connect, AUTH, PING, INFO, close for
  every target), on uvloop.

No report, no history, no queue figures, no latency samples, no deadline. The issue's own
floor is the last part alone; this one says how much of the gap to it is work that no
implementation can leave out.
"""

from __future__ import annotations

import json
import os
import sys

import pyrage
import uvloop
import yaml

from benchmarks.raw_resp import _main


def _enc(node: yaml.Node) -> str | None:
    """The age stanza of a composed SOPS file (``sops.age[0].enc``), if it has one."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if key.value == "sops" and isinstance(value, yaml.MappingNode):
            for name, entries in value.value:
                if name.value == "age" and isinstance(entries, yaml.SequenceNode):
                    for entry in entries.value:
                        for field, text in entry.value:
                            if field.value == "enc":
                                return str(text.value)
    return None


def main(inventory: str, identity: str, targets: str, concurrency: int) -> None:
    with open(identity, encoding="ascii") as handle:
        secret = next(line for line in handle.read().split() if line.startswith("AGE-"))
    key = pyrage.x25519.Identity.from_str(secret)
    decrypted = 0
    for folder, dirs, names in os.walk(inventory):
        dirs.sort()
        for name in sorted(names):
            if not name.endswith((".yaml", ".yml")):
                continue
            with open(os.path.join(folder, name), "rb") as handle:
                node = yaml.compose(handle.read(), Loader=yaml.CSafeLoader)
            enc = _enc(node) if node is not None else None
            if enc is not None:
                pyrage.decrypt(enc.encode("ascii"), [key])
                decrypted += 1
    with open(targets, encoding="utf-8") as handle:
        listed = [(int(port), str(password)) for port, password in json.load(handle)]
    if decrypted < len(listed):
        raise SystemExit(f"decrypted {decrypted} age stanzas for {len(listed)} targets")
    uvloop.run(_main(listed, concurrency))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
