"""`hznctl import`: an existing fleet's supervisord files and Horizon config as inventory.

``source`` reads supervisord files with supervisor's own parser, ``commands`` recognises
each program's runtime from its command words, ``build`` turns the programs into inventory
objects (secrets moved into SOPS files, never into YAML), ``roundtrip`` compares what the
new inventory compiles to with the originals, and ``horizon`` reads config/horizon.php
through PHP.
"""
