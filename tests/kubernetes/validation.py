"""Validate manifests against the real schemas: Kubernetes' OpenAPI (kubernetes-validate)
and KEDA's CRDs vendored from a release (see schemas/keda-v2.20.2/SOURCE.md)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
KEDA_SCHEMAS = HERE / "schemas" / "keda-v2.20.2"
KUBERNETES_VERSION = "1.33.0"
_KEDA_FILES = {"ScaledObject": "keda.sh_scaledobjects.yaml",
               "TriggerAuthentication": "keda.sh_triggerauthentications.yaml"}


def _closed(schema: Any) -> Any:
    """The schema with unknown properties refused where it lists properties.

    The API server prunes unknown fields of a CRD silently; a misspelt field would be lost
    without a word, so the test refuses it instead.
    """
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_closed(v) for v in schema]
    return schema


@functools.cache
def keda_validator(kind: str) -> Any:
    import jsonschema

    crd = yaml.safe_load((KEDA_SCHEMAS / _KEDA_FILES[kind]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = _closed(version["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def problems(document: dict[str, Any]) -> list[str]:
    """Every schema problem of one manifest (empty when it is valid)."""
    kind = document.get("kind")
    if kind in _KEDA_FILES:
        assert document["apiVersion"] == "keda.sh/v1alpha1"
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in keda_validator(kind).iter_errors(document)]
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
    return []
