"""Roles and audit in git: change sets between revisions, policy checks, CODEOWNERS, the log."""
