"""The error every secrets operation raises; its message never holds a plaintext value."""

from __future__ import annotations

from hznctl.errors import HznctlError


class SecretError(HznctlError):
    """A secret could not be read, decrypted or written (missing key, failed MAC, …)."""
