"""The age keys operator commands decrypt with (to re-encrypt secrets for new readers)."""

from __future__ import annotations

from pathlib import Path

from hznctl.errors import missing_key_file
from hznctl.secrets.decrypt import Identities, default_identity_paths, load_identities


def identities(paths: tuple[Path, ...]) -> Identities | None:
    """The keys of --identity, else of $HZNCTL_AGE_KEY_FILE/$SOPS_AGE_KEY_FILE or sops'
    keys.txt; None when none is given. A named file that is missing is a usage error."""
    chosen = list(paths) or default_identity_paths()
    for path in chosen:
        if not path.is_file():
            raise missing_key_file(str(path))
    return load_identities(chosen) if chosen else None
