"""Where a supervisord host's bundle keeps its files.

A bundle is the folder ``DIR/<host>/``::

    manifest.json            what the host must run (``hznctl.bundle.manifest.Manifest``)
    programs/<group>.conf    one supervisord ``[program:<group>]`` section per file
    exec/<group>.json        the group's ``ExecSpec`` (no secret in it)
    secrets/<path>           the SOPS files its workers use, copied byte for byte
    horizon/<app>.json       Laravel Horizon supervisors of a laravel-horizon application

Deploy installs the folder under the host's ``state_dir`` as ``current`` and includes
``programs/*.conf`` from supervisord's configuration.
"""

from __future__ import annotations

PROGRAMS = "programs"


def program_file(group: str) -> str:
    """The bundle path of a program group's file."""
    return f"{PROGRAMS}/{group}.conf"
