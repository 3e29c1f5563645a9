"""The JSON schemas kubeconform validates `deploy/k8s/transcode-flow.yaml` with, made
offline (`make kubeconform`; its default registry is on GitHub, which is unreachable):

- the Kubernetes kinds from the `kubernetes-validate` wheel's strict schemas (PyPI,
  pinned in pyproject.toml), made standalone: every `$ref` into its shared definitions
  is inlined, the layout kubeconform's `-standalone-strict` folders have;
- each CRD given (KEDA's ScaledObject, from the pinned KEDA module) as
  `<kind>-<group's first label>-<version>.json` (kubeconform's `KindSuffix`), strict:
  objects that list their properties get `additionalProperties: false` unless the CRD
  keeps unknown fields, so a misspelt field fails as it does for a built-in kind.

Usage: schemas.py OUT_DIR KUBERNETES_VERSION [CRD.yaml ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

BUNDLE = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
REF, LOCAL_REF = "/api/_definitions.json#/$defs/", "#/$defs/"  # from a kind's file; within the definitions


def inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """`node` with every `$ref` to the shared definitions replaced by the definition (a
    recursive type is cut at its second appearance: any object there)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith((REF, LOCAL_REF)):
            name = ref.split("/$defs/", 1)[1]
            if name in seen:
                return {}
            return inline(defs[name], defs, (*seen, name))
        return {k: inline(v, defs, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v, defs, seen) for v in node]
    return node


def strict(node: Any) -> Any:
    """A CRD schema with every closed object made strict (see the module)."""
    if isinstance(node, dict):
        out = {k: strict(v) for k, v in node.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def kubernetes(out: Path, version: str, kinds: list[str]) -> list[Path]:
    """Standalone strict schemas of `kinds` (file stems such as `deployment-apps-v1`) under
    `out/v<version>-standalone-strict/`."""
    source = BUNDLE / f"v{version}-local-strict"
    defs = json.loads((source / "_definitions.json").read_text())["$defs"]
    target = out / f"v{version}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        schema = inline(json.loads((source / f"{kind}.json").read_text()), defs)
        schema.pop("$schema", None)  # kubeconform compiles it as its default draft; nothing here needs more
        path = target / f"{kind}.json"
        path.write_text(json.dumps(schema))
        written.append(path)
    return written


def crd(out: Path, doc: dict[str, Any]) -> list[Path]:
    """One strict schema per served version of CRD `doc`."""
    spec = doc["spec"]
    kind, group = spec["names"]["kind"].lower(), spec["group"].split(".")[0]
    written = []
    for v in spec["versions"]:
        schema = strict(v["schema"]["openAPIV3Schema"])
        schema["properties"].update(apiVersion={"type": "string", "enum": [f"{spec['group']}/{v['name']}"]},
                                    kind={"type": "string", "enum": [spec["names"]["kind"]]},
                                    metadata={"type": "object"})
        path = out / f"{kind}-{group}-{v['name']}.json"
        path.write_text(json.dumps(schema))
        written.append(path)
    return written


#: The built-in kinds the manifests use.
KINDS = ["namespace-v1", "configmap-v1", "service-v1", "statefulset-apps-v1", "deployment-apps-v1", "job-batch-v1"]

if __name__ == "__main__":
    target, k8s_version, *crds = sys.argv[1:]
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    files = kubernetes(out, k8s_version, KINDS)
    for path in crds:
        files += crd(out, yaml.safe_load(Path(path).read_text()))
    print("wrote " + ", ".join(p.name for p in files))
