"""policy.yaml as an inventory kind: loaded, validated and given a schema like any other."""

from __future__ import annotations

from hznctl.inventory import KindSpec, register_kind
from hznctl.models.policy import Policy

POLICY_KIND = KindSpec("policy", Policy, filename="policy.yaml")
register_kind(POLICY_KIND)
