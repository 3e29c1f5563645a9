"""Kubernetes manifests of the production topology (README, Scaling past one machine):
writes `deploy/k8s/transcode-flow.yaml` (`make k8s`; a test checks the committed file is
this output and validates it with kubeconform against the Kubernetes 1.34 schemas and
KEDA's ScaledObject CRD).

The same shape as compose.yaml, on a cluster: a three-node NATS JetStream cluster
(StatefulSet, every stream R3), Postgres and MinIO (one pod each; replace them with
managed services by setting the URLs), NGINX, the API, the projector (one: it is the
only writer of job state), and the workers as Deployments. KEDA scales each worker on
its JetStream consumer lag: one `nats-jetstream` trigger per consumer of its group (a
banded worker has ten, `runtime.jetstream.definitions`), so any queued priority adds replicas.

Secrets are not here: create `tflow-secrets` (README) before applying.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runtime.jetstream.definitions import consumer_group  # noqa: E402

NAMESPACE = "transcode-flow"
APP_IMAGE = "transcode-flow/app:latest"
OUT = Path(__file__).with_name("transcode-flow.yaml")
NATS_NODES = 3
NATS_IMAGE = "nats:2.11.9-alpine"
#: worker -> (stream, consumer group, image, the most replicas KEDA may run, lag per replica)
WORKERS: dict[str, tuple[str, str, str, int, int]] = {
    "transcoder": ("JOBS", "transcoder", APP_IMAGE, 20, 2),
    "thumbnailer": ("JOBS", "thumbnailer", APP_IMAGE, 10, 5),
    "transcriber": ("JOBS", "transcriber", "transcode-flow/transcriber:latest", 10, 2),
    "finalizer": ("FINALIZE", "finalizer", APP_IMAGE, 8, 5),
}
NATS_URL = ",".join(f"nats://nats-{i}.nats.{NAMESPACE}.svc:4222" for i in range(NATS_NODES))
MONITOR = f"nats.{NAMESPACE}.svc:8222"


def meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "transcode-flow",
                                                             "app.kubernetes.io/name": name, **labels}}


def env_from_config(user: str | None) -> list[dict[str, Any]]:
    """The settings every project container reads: the ConfigMap, the secrets, its NATS user."""
    secret = [("TFLOW_DATABASE_URL", "database-url"), ("TFLOW_S3_ACCESS_KEY", "s3-access-key"),
              ("TFLOW_S3_SECRET_KEY", "s3-secret-key"), ("TFLOW_ADMIN_KEY", "admin-key"),
              ("TFLOW_STREAM_SECRET", "stream-secret"), ("TFLOW_WEBHOOK_SECRET", "webhook-secret")]
    env = [{"name": n, "valueFrom": {"secretKeyRef": {"name": "tflow-secrets", "key": k}}} for n, k in secret]
    return env + ([{"name": "TFLOW_NATS_USER", "value": user}] if user else [])


SECRETS_VOLUME = {"name": "secrets", "secret": {"secretName": "tflow-secrets", "defaultMode": 0o400,
                                                 "items": [{"key": "nats.json", "path": "nats.json"}]}}


def project_container(name: str, image: str, args: list[str], user: str | None,
                      extra_env: dict[str, str] | None = None, port: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name, "image": image, "args": args,
        "envFrom": [{"configMapRef": {"name": "tflow-config"}}],
        "env": env_from_config(user) + [{"name": k, "value": v} for k, v in (extra_env or {}).items()],
        "volumeMounts": [{"name": "secrets", "mountPath": "/data/secrets", "readOnly": True},
                         {"name": "temp", "mountPath": "/data/temp"}],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "ports": [{"name": "metrics", "containerPort": 9100}] + (
            [{"name": "http", "containerPort": port}] if port else []),
        "livenessProbe": {"httpGet": {"path": "/health" if port else "/metrics", "port": port or 9100},
                          "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 3},
    }
    if port:
        c["readinessProbe"] = {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 10}
    return c


def deployment(name: str, replicas: int, container: dict[str, Any], resources: dict[str, Any],
               recreate: bool = False) -> dict[str, Any]:
    container = {**container, "resources": resources}
    spec: dict[str, Any] = {
        "replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "template": {"metadata": {"labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of":
                                             "transcode-flow"},
                                  "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9100"}},
                     "spec": {"terminationGracePeriodSeconds": 30, "containers": [container],
                              "volumes": [SECRETS_VOLUME, {"name": "temp", "emptyDir": {}}]}}}
    if recreate:
        spec["strategy"] = {"type": "Recreate"}  # never two at once
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, **{
        "app.kubernetes.io/component": "service"}), "spec": spec}


def service(name: str, ports: list[tuple[str, int]], headless: bool = False, public: bool = False
            ) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app.kubernetes.io/name": name},
                            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports]}
    if headless:
        spec.update(clusterIP="None", publishNotReadyAddresses=True)
    if public:
        spec["type"] = "LoadBalancer"
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name), "spec": spec}


def nats() -> list[dict[str, Any]]:
    """The three-node JetStream cluster: each pod's config written by `tflow nats-config`
    (its users and permissions, `sync_interval: always`, the routes of every node)."""
    routes = ",".join(f"nats-route://nats-{i}.nats.{NAMESPACE}.svc:6222" for i in range(NATS_NODES))
    init = {"name": "nats-config", "image": APP_IMAGE,
            "command": ["sh", "-c", "cp /secrets/nats.json /data/secrets/nats.json && exec tflow nats-config "
                        "--out /data/nats/nats-server.conf --store /data/nats/jetstream --server-name \"$POD_NAME\" "
                        f"--cluster-port 6222 --routes {routes}"],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "TFLOW_DATA_DIR", "value": "/data"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data/nats"},
                             {"name": "secrets", "mountPath": "/secrets", "readOnly": True},
                             {"name": "config-secrets", "mountPath": "/data/secrets"}]}
    server = {"name": "nats", "image": NATS_IMAGE, "args": ["-c", "/data/nats/nats-server.conf"],
              "ports": [{"name": "client", "containerPort": 4222}, {"name": "cluster", "containerPort": 6222},
                        {"name": "monitor", "containerPort": 8222}],
              "volumeMounts": [{"name": "data", "mountPath": "/data/nats"}],
              "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
              "readinessProbe": {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": 8222},
                                 "periodSeconds": 10},
              "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8222}, "periodSeconds": 30}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("nats"),
           "spec": {"serviceName": "nats", "replicas": NATS_NODES, "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": {"app.kubernetes.io/name": "nats"}},
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": "nats",
                                                         "app.kubernetes.io/part-of": "transcode-flow"}},
                                 "spec": {"initContainers": [init], "containers": [server],
                                          "volumes": [SECRETS_VOLUME, {"name": "config-secrets", "emptyDir": {}}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                              "spec": {"accessModes": ["ReadWriteOnce"],
                                                       "resources": {"requests": {"storage": "20Gi"}}}}]}}
    return [service("nats", [("client", 4222), ("cluster", 6222), ("monitor", 8222)], headless=True), sts]


def stateful(name: str, image: str, port: int, args: list[str], env: list[dict[str, Any]], mount: str,
             size: str) -> list[dict[str, Any]]:
    container = {"name": name, "image": image, "args": args, "env": env,
                 "ports": [{"name": "main", "containerPort": port}],
                 "volumeMounts": [{"name": "data", "mountPath": mount}],
                 "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name),
           "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": name,
                                                         "app.kubernetes.io/part-of": "transcode-flow"}},
                                 "spec": {"containers": [container]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                              "spec": {"accessModes": ["ReadWriteOnce"],
                                                       "resources": {"requests": {"storage": size}}}}]}}
    return [service(name, [("main", port)]), sts]


def secret_env(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "tflow-secrets", "key": key}}}


def scaled_object(worker: str) -> dict[str, Any]:
    """KEDA: the worker's replicas follow the lag of every consumer of its group."""
    stream, durable, _, most, lag = WORKERS[worker]
    triggers = [{"type": "nats-jetstream", "name": name,
                 "metadata": {"natsServerMonitoringEndpoint": MONITOR, "account": "$G", "stream": stream,
                              "consumer": name, "lagThreshold": str(lag), "activationLagThreshold": "0"}}
                for name in consumer_group(stream, durable).names]
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": meta(worker),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": worker},
                     "minReplicaCount": 1, "maxReplicaCount": most, "pollingInterval": 10, "cooldownPeriod": 300,
                     "triggers": triggers}}


def manifests() -> list[dict[str, Any]]:
    """Every object, in apply order."""
    config = {"TFLOW_ENVIRONMENT": "production", "TFLOW_DATA_DIR": "/data", "TFLOW_NATS_URL": NATS_URL,
              "TFLOW_NATS_REPLICAS": str(NATS_NODES), "TFLOW_S3_ENDPOINT": "minio:9000", "TFLOW_BUCKET": "videos",
              "TFLOW_WORK_DIR": "/data/temp", "TFLOW_LOG_FORMAT": "json", "TFLOW_METRICS_HOST": "0.0.0.0",
              "TFLOW_METRICS_PORT": "9100", "TFLOW_PUBLIC_BASE_URL": "https://videos.example.com/videos",
              "TFLOW_S3_PUBLIC_URL": "https://videos.example.com", "TFLOW_STREAM_TOKENS": "true",
              "TFLOW_WORKER_CONCURRENCY": "1", "TFLOW_PRIORITY_AGING_SECONDS": "60"}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("tflow-config"), "data": config},
        *nats(),
        *stateful("postgres", "postgres:17.6-alpine", 5432, [],
                  [{"name": "POSTGRES_USER", "value": "tflow"}, {"name": "POSTGRES_DB", "value": "tflow"},
                   {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                   secret_env("POSTGRES_PASSWORD", "postgres-password")], "/var/lib/postgresql/data", "20Gi"),
        *stateful("minio", "transcode-flow/minio:latest", 9000,
                  ["server", "/data/minio", "--address", ":9000"],
                  [secret_env("MINIO_ROOT_USER", "s3-access-key"), secret_env("MINIO_ROOT_PASSWORD", "s3-secret-key"),
                   {"name": "MINIO_BROWSER", "value": "off"}, {"name": "MINIO_UPDATE", "value": "off"},
                   {"name": "MINIO_NOTIFY_NATS_ENABLE_PRIMARY", "value": "on"},
                   {"name": "MINIO_NOTIFY_NATS_ADDRESS_PRIMARY", "value": f"nats.{NAMESPACE}.svc:4222"},
                   {"name": "MINIO_NOTIFY_NATS_SUBJECT_PRIMARY", "value": "minio.events"},
                   {"name": "MINIO_NOTIFY_NATS_JETSTREAM_PRIMARY", "value": "on"},
                   {"name": "MINIO_NOTIFY_NATS_USERNAME_PRIMARY", "value": "minio"},
                   secret_env("MINIO_NOTIFY_NATS_PASSWORD_PRIMARY", "minio-nats-password")],
                  "/data/minio", "500Gi"),
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("bootstrap"),
         "spec": {"backoffLimit": 20, "template": {"spec": {
             "restartPolicy": "OnFailure", "volumes": [SECRETS_VOLUME, {"name": "temp", "emptyDir": {}}],
             "containers": [{k: v for k, v in project_container("bootstrap", APP_IMAGE, ["bootstrap", "--minio"],
                                                                 "admin").items()
                             if k not in ("ports", "livenessProbe")}]}}}},
        deployment("api", 2, project_container("api", APP_IMAGE, ["run", "api"], "api",
                                               {"TFLOW_API_HOST": "0.0.0.0", "TFLOW_API_PORT": "8000"}, port=8000),
                   {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}),
        service("api", [("http", 8000)]),
        deployment("projector", 1, project_container("projector", APP_IMAGE, ["run", "projector"], "projector"),
                   {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}, recreate=True),
        deployment("notifier", 1, project_container("notifier", APP_IMAGE, ["run", "notifier"], "notifier"),
                   {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}),
        deployment("ingest", 2, project_container("ingest", APP_IMAGE, ["run", "ingest"], "ingest"),
                   {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}),
    ]
    sizes = {"transcoder": ("2", "2Gi", "4Gi"), "thumbnailer": ("500m", "512Mi", "1Gi"),
             "transcriber": ("2", "2Gi", "4Gi"), "finalizer": ("500m", "512Mi", "1Gi")}
    for worker, (_, _, image, _, _) in WORKERS.items():
        cpu, mem, limit = sizes[worker]
        docs.append(deployment(worker, 1, project_container(worker, image, ["run", worker], worker),
                               {"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": limit}}))
        docs.append(scaled_object(worker))
    template = (Path(__file__).parents[1] / "nginx" / "templates" / "transcode-flow.conf.template").read_text()
    docs += [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("nginx-templates"),
         "data": {"transcode-flow.conf.template": template}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("nginx"),
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "nginx"}},
                  "template": {"metadata": {"labels": {"app.kubernetes.io/name": "nginx",
                                                       "app.kubernetes.io/part-of": "transcode-flow"}},
                               "spec": {"containers": [{
                                   "name": "nginx", "image": "nginx:1.28.0-alpine",
                                   "env": [{"name": "TFLOW_NGINX_LISTEN", "value": "80"},
                                           {"name": "TFLOW_NGINX_TLS_LISTEN", "value": "443"},
                                           {"name": "TFLOW_TLS_CERT", "value": "/etc/nginx/tls/tls.crt"},
                                           {"name": "TFLOW_TLS_KEY", "value": "/etc/nginx/tls/tls.key"},
                                           {"name": "TFLOW_HTTPS_PORT_SUFFIX", "value": ""},
                                           {"name": "TFLOW_API_UPSTREAM", "value": "api:8000"},
                                           {"name": "TFLOW_S3_UPSTREAM", "value": "minio:9000"},
                                           {"name": "TFLOW_BUCKET", "value": "videos"},
                                           {"name": "TFLOW_STREAM_TOKENS", "value": "true"},
                                           {"name": "NGINX_ENVSUBST_FILTER", "value": "^TFLOW_"},
                                           secret_env("TFLOW_STREAM_SECRET", "stream-secret")],
                                   "ports": [{"name": "http", "containerPort": 80},
                                             {"name": "https", "containerPort": 443}],
                                   "volumeMounts": [{"name": "templates", "mountPath": "/etc/nginx/templates",
                                                     "readOnly": True},
                                                    {"name": "tls", "mountPath": "/etc/nginx/tls", "readOnly": True}],
                                   "readinessProbe": {"httpGet": {"path": "/health", "port": 443, "scheme": "HTTPS"}}}],
                                   # the edge's pair: a kubernetes.io/tls Secret (cert-manager's, or the
                                   # operator's `kubectl create secret tls edge-tls --cert --key`)
                                   "volumes": [{"name": "templates", "configMap": {"name": "nginx-templates"}},
                                               {"name": "tls", "secret": {"secretName": "edge-tls"}}]}}}},
        service("nginx", [("http", 80), ("https", 443)], public=True),
    ]
    return docs


def render() -> str:
    """The YAML stream of `manifests()`."""
    head = "# Generated by deploy/k8s/manifests.py (make k8s): edit that, not this.\n"
    return head + yaml.safe_dump_all(manifests(), sort_keys=False, width=120)


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
