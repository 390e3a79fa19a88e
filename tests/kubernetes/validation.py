"""Validate manifests against the real schemas: Kubernetes' OpenAPI (kubernetes-validate)
and KEDA's CRDs, as the models that cloudcoil-models-keda (PyPI) generates from them."""

from __future__ import annotations

import json
from typing import Any

KUBERNETES_VERSION = "1.33.0"
_KEDA_KINDS = ("ScaledObject", "TriggerAuthentication")


def _keda_problems(document: dict[str, Any]) -> list[str]:
    """The document read by the models of KEDA's CRDs and written back must be the same:
    a field the CRD does not know would be dropped (the API server prunes it silently), a
    value of the wrong type changed or refused."""
    import pydantic
    from cloudcoil.models.keda import v1alpha1

    model = getattr(v1alpha1, document["kind"])
    try:
        back = model.model_validate(document).model_dump(by_alias=True, exclude_none=True,
                                                         mode="json")
    except pydantic.ValidationError as exc:
        return [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    if back != document:
        return [f"not read back as written by KEDA's schema: {json.dumps(back, sort_keys=True)}"]
    return []


def problems(document: dict[str, Any]) -> list[str]:
    """Every schema problem of one manifest (empty when it is valid)."""
    kind = document.get("kind")
    if kind in _KEDA_KINDS:
        assert document["apiVersion"] == "keda.sh/v1alpha1"
        return _keda_problems(document)
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    return []
