"""The one error hierarchy: every expected failure is a HznctlError with a sentence for the user.

The CLI maps these to exit 1 (findings) or 2 (usage); anything else is an internal error (3).
"""

from __future__ import annotations

from collections.abc import Sequence

# The exit codes of every command: hznctl/cli/output.py turns a command's verdict into one,
# the handler in hznctl/cli/main.py maps the errors.
EXIT_OK = 0
EXIT_FINDINGS = 1  # invalid inventory, a failed check, unhealthy, a failed deploy, drift
EXIT_USAGE = 2
EXIT_CHANGES = 2  # plan --detailed-exitcode: something changes
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class HznctlError(Exception):
    """An expected failure; its message is shown to the user as it is, never a traceback."""

    exit_code = EXIT_FINDINGS


class UsageError(HznctlError):
    """The command was called wrongly (bad option combination, missing path)."""

    exit_code = EXIT_USAGE


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


def missing_key(files: list[str], readers: Sequence[str] = ()) -> UsageError:
    """The one answer when secrets must be decrypted (to re-encrypt them) and no key is given."""
    whom = f" for {', '.join(readers)}" if readers else ""
    return UsageError(f"{', '.join(files)} must be re-encrypted{whom}, which needs an age key "
                      "that can read it: give --identity FILE or set HZNCTL_AGE_KEY_FILE (the "
                      "health runner's key can read every secret); nothing was changed")


def missing_key_file(path: str) -> UsageError:
    """An age key file named by --identity or an environment variable that is not there."""
    return UsageError(f"age key file {path!r} does not exist (from --identity, "
                      "HZNCTL_AGE_KEY_FILE or SOPS_AGE_KEY_FILE)")


def no_terminal(option: str) -> UsageError:
    """A value hznctl would ask for, with no terminal to ask on."""
    return UsageError(f"missing option {option}: there is no terminal to ask for it on, so "
                      "give it on the command line")
