"""Scaffolding: a new inventory repository (`hznctl init`) and new inventory objects
(`hznctl new`), each validated before anything is written.

The files an inventory repository starts with are in ``files/``; the workflows there are
also the source of this repository's own ``.github/workflows`` (a test keeps them equal).
"""
