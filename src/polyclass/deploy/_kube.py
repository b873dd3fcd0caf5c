"""The Kubernetes and KServe objects of one region, built as plain dicts.

Every object comes from the region (its cloud, store, replicas) and the model
reference; nothing is a template copied per cloud. The store's credentials come from
the cloud's workload identity (an annotated ServiceAccount), never from keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polyclass.deploy._topology import Region

PORT = 8080
TOKENS_SECRET = "polyclass-tokens"
TOKENS_DIR = "/var/run/secrets/polyclass"
CACHE_DIR = "/var/cache/polyclass"
LOG_DIR = "/var/lib/polyclass"
USER_ID = 10001
READY = "/v2/health/ready"
LIVE = "/v2/health/live"
#: Seconds the pod keeps serving after it is taken out of the Service, so the load
#: balancer stops sending to it before it stops listening.
DRAIN_SECONDS = 10


@dataclass(frozen=True)
class RegionPlan:
    """What the objects of one region are built from."""

    region: Region
    model: str  # NAME:VERSION
    image: str
    polyclass_version: str

    @property
    def name(self) -> str:
        return f"polyclass-{self.region.name}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "polyclass",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/version": self.polyclass_version,
            "polyclass.dev/region": self.region.name,
        }

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/instance": self.name}


def _meta(plan: RegionPlan, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name or plan.name, "labels": dict(plan.labels), **extra}


def service_account(plan: RegionPlan) -> dict[str, Any]:
    """The pods' identity; its annotation lets the cloud hand them store credentials."""
    region = plan.region.name
    by_cloud: dict[str, dict[str, str]] = {
        "aws": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::ACCOUNT_ID:role/polyclass-{region}"},
        "gcp": {
            "iam.gke.io/gcp-service-account": (
                f"polyclass-{region}@PROJECT_ID.iam.gserviceaccount.com"
            )
        },
        "azure": {"azure.workload.identity/client-id": "CLIENT_ID"},
    }
    annotations = by_cloud.get(plan.region.cloud, {})
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(plan, annotations=annotations),
        "automountServiceAccountToken": plan.region.cloud in ("aws", "gcp", "azure"),
    }


def serve_env(plan: RegionPlan) -> list[dict[str, Any]]:
    """The environment the container's entrypoint reads (the same in every runtime)."""
    env: list[dict[str, Any]] = [
        {"name": "POLYCLASS_MODEL", "value": plan.model},
        {"name": "POLYCLASS_STORE", "value": plan.region.store or ""},
        {"name": "PORT", "value": str(PORT)},
        {"name": "WORKERS", "value": "2"},
        {"name": "TOKEN_FILE", "value": f"{TOKENS_DIR}/tokens"},
        {"name": "POLYCLASS_CACHE", "value": CACHE_DIR},
    ]
    if plan.region.cloud == "onprem":  # an S3-compatible store: keys from a Secret, by name
        env += [
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": "polyclass-store", "key": key}},
            }
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")
        ]
    return env


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _resources() -> dict[str, Any]:
    return {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }


def deployment(plan: RegionPlan) -> dict[str, Any]:
    """The region's replicas: probes on the OIP health routes, rolling with none down."""
    container = {
        "name": "polyclass",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": serve_env(plan),
        "resources": _resources(),
        "startupProbe": _probe(READY, 2, 90),  # the first start fetches the model
        "readinessProbe": _probe(READY, 5, 2),
        "livenessProbe": _probe(LIVE, 10, 3),
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "tokens", "mountPath": TOKENS_DIR, "readOnly": True},
            {"name": "cache", "mountPath": CACHE_DIR},
            {"name": "logs", "mountPath": LOG_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_labels = dict(plan.labels)
    if plan.region.cloud == "azure":
        pod_labels["azure.workload.identity/use"] = "true"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(plan),
        "spec": {
            "replicas": plan.region.replicas,
            "selector": {"matchLabels": plan.selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": plan.name,
                    "terminationGracePeriodSeconds": DRAIN_SECONDS + 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "fsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": plan.selector},
                        }
                    ],
                    "containers": [container],
                    "volumes": [
                        {"name": "tokens", "secret": {"secretName": TOKENS_SECRET}},
                        {"name": "cache", "emptyDir": {"sizeLimit": "2Gi"}},
                        {"name": "logs", "emptyDir": {"sizeLimit": "2Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def service(plan: RegionPlan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(plan),
        "spec": {
            "type": "ClusterIP",
            "selector": plan.selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(plan: RegionPlan) -> dict[str, Any]:
    low = max(2, plan.region.replicas)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(plan),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name},
            "minReplicas": low,
            "maxReplicas": low * 4,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def disruption_budget(plan: RegionPlan) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(plan),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": plan.selector}},
    }


def network_policy(plan: RegionPlan) -> dict[str, Any]:
    """In: the serving port only. Out: DNS and HTTPS (the store and the cloud's identity)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(plan),
        "spec": {
            "podSelector": {"matchLabels": plan.selector},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": PORT}]}],
            "egress": [
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"ports": [{"protocol": "TCP", "port": 443}]},
            ],
        },
    }


def kustomization(files: list[str], plan: RegionPlan) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
        "labels": [{"pairs": {"polyclass.dev/model": plan.model.replace(":", "-")}}],
    }


def serving_runtime(plan: RegionPlan) -> dict[str, Any]:
    """A KServe runtime running ``polyclass serve`` on the store KServe copies to /mnt/models."""
    env = [e for e in serve_env(plan) if e["name"] != "POLYCLASS_STORE"]
    env.append({"name": "POLYCLASS_STORE", "value": "file:///mnt/models"})
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": _meta(plan, name="polyclass"),
        "spec": {
            "supportedModelFormats": [{"name": "polyclass", "version": "1", "autoSelect": True}],
            "protocolVersions": ["v2"],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": plan.image,
                    "env": env,
                    "ports": [{"containerPort": PORT, "protocol": "TCP"}],
                    "resources": _resources(),
                    "securityContext": _container_security(),
                }
            ],
        },
    }


def inference_service(plan: RegionPlan) -> dict[str, Any]:
    """The model in KServe: its storage initializer copies the region's store to /mnt/models."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _meta(plan),
        "spec": {
            "predictor": {
                "serviceAccountName": plan.name,
                "minReplicas": plan.region.replicas,
                "model": {
                    "modelFormat": {"name": "polyclass"},
                    "runtime": "polyclass",
                    "protocolVersion": "v2",
                    "storageUri": plan.region.store,
                },
            }
        },
    }
