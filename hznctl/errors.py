"""The one error hierarchy: every expected failure is a HznctlError with a sentence for the user.

The CLI maps these to exit 1 (findings) or 2 (usage); anything else is an internal error (3).
"""

from __future__ import annotations


class HznctlError(Exception):
    """An expected failure; its message is shown to the user as it is, never a traceback."""

    exit_code = 1


class UsageError(HznctlError):
    """The command was called wrongly (bad option combination, missing path)."""

    exit_code = 2


class InventoryError(HznctlError):
    """The inventory could not be loaded or is invalid; carries the diagnostics."""

    def __init__(self, message: str, diagnostics: list[object] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


def no_inventory(shown: str) -> UsageError:
    """The one answer to an inventory folder that is not there, whichever command asks."""
    return UsageError(f"inventory folder {shown!r} does not exist (run hznctl from the "
                      "folder that holds it, or give its path)")


def unknown_revision(rev: str, reason: str = "") -> UsageError:
    """The one answer to a git revision that does not name a commit."""
    why = f" ({reason})" if reason else ""
    return UsageError(f"unknown git revision {rev!r}{why}: give a commit, branch or tag "
                      "that exists here (`git fetch` first for a remote branch)")
