"""The compiler core: each host's programs as typed values (no target's syntax).

Placement says which worker groups a host runs; ``programs`` builds each distinct program
once (argv, exec spec, secret files, Horizon files); a target (``hznctl.targets``) writes
them in its format. Nothing here validates or renders: ``hznctl.pipeline`` composes them.
"""
