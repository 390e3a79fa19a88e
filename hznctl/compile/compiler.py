"""What every target's build shares: its error, and the inventory's SOPS files read once."""

from __future__ import annotations

from pathlib import Path

from hznctl.bundle.manifest import sha256_hex
from hznctl.errors import HznctlError
from hznctl.secrets.identity import value_identity


class CompileError(HznctlError):
    """A bundle could not be built; nothing is written."""


class SecretFiles:
    """The inventory's SOPS files, read once each (copied into bundles, never decrypted)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._data: dict[str, bytes] = {}
        self._hashes: dict[str, str] = {}
        self._identities: dict[str, str] = {}

    def read(self, rel: str) -> bytes:
        if rel not in self._data:
            path = self.root / rel
            if not path.resolve().is_relative_to(self.root.resolve()):
                raise CompileError(f"{rel}: secret file points outside the inventory folder")
            try:
                self._data[rel] = path.read_bytes()
            except OSError as exc:
                raise CompileError(f"{path}: cannot read secret file: "
                                   f"{exc.strerror or exc}") from None
        return self._data[rel]

    def hash(self, rel: str) -> str:
        if rel not in self._hashes:
            self._hashes[rel] = sha256_hex(self.read(rel))
        return self._hashes[rel]

    def identity(self, rel: str) -> str:
        """The identity of the file's values: what restarts the workers using it."""
        if rel not in self._identities:
            self._identities[rel] = value_identity(self.read(rel), self.root / rel)
        return self._identities[rel]


