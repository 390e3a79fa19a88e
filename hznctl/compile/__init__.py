"""Compiling the inventory into one supervisord bundle per host.

Kept import-light: `hznctl.compile.checks` is loaded by `validate` for its rules.
"""
