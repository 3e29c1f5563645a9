"""The Kubernetes manifests: the committed file is the generator's output, kubeconform
(pinned, `make kubeconform`) finds every object valid against the Kubernetes schemas and
KEDA's ScaledObject CRD, and what they say matches the project: three NATS nodes, R3
streams, one projector, and every worker scaled on the lag of every consumer it pulls."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from runtime.jetstream.definitions import consumer_group
from tests.media import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"


def generator():
    spec = importlib.util.spec_from_file_location("manifests", K8S / "manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kubeconform(path: Path) -> dict:
    binary = Path(os.environ.get("TFLOW_KUBECONFORM") or REPO_ROOT / ".tools" / "bin" / "kubeconform")
    schemas = Path(os.environ.get("TFLOW_K8S_SCHEMAS") or REPO_ROOT / ".tools" / "k8s-schemas")
    if not binary.exists() or not (schemas / "scaledobject-keda-v1alpha1.json").exists():
        pytest.skip(f"kubeconform or its schemas not built ({binary}, {schemas}; `make kubeconform` needs Go): "
                    "the Kubernetes manifests are not validated")
    version = os.environ.get("TFLOW_K8S_VERSION", "1.34.0")
    out = subprocess.run([str(binary), "-strict", "-summary", "-output", "json", "-kubernetes-version", version,
                          "-schema-location",
                          f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/"
                          "{{ .ResourceKind }}{{ .KindSuffix }}.json",
                          "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
                          str(path)], capture_output=True, text=True, timeout=60)
    return {"code": out.returncode, **json.loads(out.stdout)}


def test_the_committed_manifests_are_the_generators_output():
    assert (K8S / "transcode-flow.yaml").read_text() == generator().render(), "run `make k8s`"


def test_kubeconform_finds_every_object_valid_and_a_misspelt_field_invalid(tmp_path):
    report = kubeconform(K8S / "transcode-flow.yaml")
    docs = [d for d in yaml.safe_load_all((K8S / "transcode-flow.yaml").read_text()) if d]
    assert report["code"] == 0, report
    assert report["summary"] == {"valid": len(docs), "invalid": 0, "errors": 0, "skipped": 0}
    broken = [dict(d) for d in docs]
    dep = next(i for i, d in enumerate(broken) if d["kind"] == "Deployment")
    broken[dep] = {**broken[dep], "spec": {**broken[dep]["spec"], "replica": 2}}  # misspelt
    so = next(i for i, d in enumerate(broken) if d["kind"] == "ScaledObject")
    broken[so] = {**broken[so], "spec": {**broken[so]["spec"], "maxReplicas": 3}}  # not KEDA's name
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump_all(broken))
    bad = kubeconform(tmp_path / "broken.yaml")
    assert bad["code"] == 1 and bad["summary"]["invalid"] == 2, bad


def test_the_topology_is_the_clusters():
    docs = [d for d in yaml.safe_load_all((K8S / "transcode-flow.yaml").read_text()) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    config = by[("ConfigMap", "tflow-config")]["data"]
    assert by[("StatefulSet", "nats")]["spec"]["replicas"] == 3 and config["TFLOW_NATS_REPLICAS"] == "3"
    assert len(config["TFLOW_NATS_URL"].split(",")) == 3
    init = by[("StatefulSet", "nats")]["spec"]["template"]["spec"]["initContainers"][0]["command"][-1]
    assert "--cluster-port 6222" in init and init.count("nats-route://") == 3
    projector = by[("Deployment", "projector")]["spec"]
    assert projector["replicas"] == 1 and projector["strategy"] == {"type": "Recreate"}  # the one writer
    for worker in ("transcoder", "thumbnailer", "transcriber", "finalizer"):
        scaled = by[("ScaledObject", worker)]["spec"]
        assert scaled["scaleTargetRef"]["name"] == worker and scaled["minReplicaCount"] >= 1
        consumers = [t["metadata"]["consumer"] for t in scaled["triggers"]]
        stream, group = ("FINALIZE", "finalizer") if worker == "finalizer" else ("JOBS", worker)
        assert consumers == consumer_group(stream, group).names  # every band (partition) adds replicas
        assert {t["type"] for t in scaled["triggers"]} == {"nats-jetstream"}
        container = by[("Deployment", worker)]["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "TFLOW_NATS_USER", "value": worker} in container["env"]
        assert container["securityContext"]["runAsNonRoot"] is True
    assert not [d for d in docs if d["kind"] == "Secret"], "secrets are created by the operator, not committed"
