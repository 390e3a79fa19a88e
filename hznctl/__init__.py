"""hznctl: a GitOps compiler for fleets of Redis-backed queue workers."""

__version__ = "0.1.0"
