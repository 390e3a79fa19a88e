"""Who must be able to read each secret file, derived from the inventory.

A connection's password is read by every host that runs a worker using that connection
(placement decides which, see ``hznctl.placement``) and by the health runner, which probes
every connection. A notification channel's URL is read by the health runner only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hznctl.inventory import Inventory
from hznctl.models import RedisConnection, SecretRef
from hznctl.placement import connection_pairs

HEALTH_RUNNER = "the health runner"


@dataclass(frozen=True, order=True)
class Reader:
    """An age recipient that must be able to decrypt a file, and whose key it is."""

    recipient: str
    who: str  # "host worker-eu-1" or "the health runner"


@dataclass(frozen=True)
class SecretUse:
    """One reference to a secret: an object's field pointing at a SOPS file and key."""

    kind: str  # "connection" or "notification"
    name: str
    field: str  # "password" or "url"
    ref: SecretRef
    readers: tuple[Reader, ...]
    hosts_without_recipient: tuple[str, ...]  # hosts that need it but have no age key

    @property
    def file(self) -> str:
        return self.ref.sops


def hosts_by_connection(inventory: Inventory) -> dict[str, list[str]]:
    """Each connection mapped to the hosts whose workers use it (sorted)."""
    result: dict[str, set[str]] = {}
    for pairs in connection_pairs(inventory).values():
        for connection, host in pairs:
            result.setdefault(connection, set()).add(host)
    return {name: sorted(hosts) for name, hosts in result.items()}


def _reader_key(reader: Reader) -> tuple[str, str]:
    return reader.recipient, reader.who


def _runner_readers(inventory: Inventory) -> list[Reader]:
    if inventory.project is None:
        return []
    return [Reader(r, HEALTH_RUNNER) for r in inventory.project.health.recipients]


# What a connection's use is made of: the connection, and each host that needs it with
# its recipient (the health runner's are the same for every connection).
_Made = tuple[RedisConnection, tuple[tuple[str, str | None], ...]]
_MADE = "secrets.connection_uses"


def secret_uses(inventory: Inventory) -> list[SecretUse]:
    """Every secret reference in the inventory with who must read it, in a stable order.

    Of a connection that the inventory loaded beside this one (``reusing``) has as the
    same object, read by the same hosts with the same recipients and the same health
    runner, its use as found there."""
    runner = _runner_readers(inventory)
    before: dict[str, tuple[_Made, SecretUse]] = {}
    if inventory.earlier is not None:
        previous = inventory.earlier.previous
        if _runner_readers(previous) == runner:
            before = previous.computed(_MADE) or {}
    made: dict[str, tuple[_Made, SecretUse]] = {}
    uses: list[SecretUse] = []
    placed = hosts_by_connection(inventory)
    for name in sorted(inventory.connections):
        connection = inventory.connections[name]
        if connection.password is None:
            continue
        key = (connection, tuple((host, inventory.hosts[host].age_recipient)
                                 for host in placed.get(name, [])))
        kept = before.get(name)
        if kept is None or kept[0][0] is not connection or kept[0][1] != key[1]:
            kept = (key, _connection_use(name, connection, key[1], runner))
        made[name] = kept
        uses.append(kept[1])
    inventory.derived(_MADE, lambda _: made)
    for name in sorted(inventory.notifications):
        channel = inventory.notifications[name]
        uses.append(SecretUse("notification", name, "url", channel.url,
                              tuple(sorted(set(runner), key=_reader_key)), ()))
    return uses


def _connection_use(name: str, connection: RedisConnection,
                    hosts: tuple[tuple[str, str | None], ...], runner: list[Reader]
                    ) -> SecretUse:
    assert connection.password is not None
    readers = list(runner)
    missing: list[str] = []
    for host_name, recipient in hosts:
        if recipient is None:
            missing.append(host_name)
        else:
            readers.append(Reader(recipient, f"host {host_name}"))
    return SecretUse("connection", name, "password", connection.password,
                     tuple(sorted(set(readers), key=_reader_key)), tuple(missing))


def readers_by_file(uses: Iterable[SecretUse]) -> dict[str, dict[str, Reader]]:
    """Each referenced file mapped to recipient → reader (hosts before the runner)."""
    result: dict[str, dict[str, Reader]] = {}
    for use in uses:
        readers = result.setdefault(use.file, {})
        for reader in use.readers:
            current = readers.get(reader.recipient)
            if current is None or current.who == HEALTH_RUNNER:
                readers[reader.recipient] = reader
    return {file: dict(sorted(readers.items())) for file, readers in sorted(result.items())}


def describe_recipient(inventory: Inventory, recipient: str) -> str:
    """Whose key ``recipient`` is, in the inventory's words ("an unknown key" otherwise)."""
    owners = [f"host {name}" for name, host in sorted(inventory.hosts.items())
              if host.age_recipient == recipient]
    if inventory.project is not None and recipient in inventory.project.health.recipients:
        owners.append(HEALTH_RUNNER)
    return " and ".join(owners) if owners else "an unknown key"
