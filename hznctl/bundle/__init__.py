"""Bundles: the format of what compile writes for a host, and the writer of the tree."""
