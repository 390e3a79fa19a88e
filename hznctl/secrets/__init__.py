"""Secrets held in SOPS files encrypted for age keys: checks without keys, decryption with them.

Modules: ``structure`` (checks needing no key), ``recipients`` (who must be able to read
each file), ``decrypt`` (in-process decryption for bulk readers), ``sops`` (the real sops
binary, the only thing that encrypts and edits).
"""
