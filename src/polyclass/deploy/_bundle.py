"""``polyclass deploy bundle FILE -o DIR``: what a platform team needs to run the topology.

Per region (``regions/<name>/``): a Dockerfile and ``.dockerignore``, the Kubernetes
objects with a kustomization, the KServe runtime and InferenceService. For the whole
topology: the router's Envoy files (the generator ``deploy up --local`` uses), a
``docker-compose.yaml`` running the same services, and a README. Every file is built
from the topology and the model's version as Python objects, then dumped; the bundle
is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from polyclass._version import __version__
from polyclass.deploy._bundle_files import compose, dockerfile, dockerignore, readme, router_files
from polyclass.deploy._check import CheckedTopology
from polyclass.deploy._kube import (
    RegionPlan,
    autoscaler,
    deployment,
    disruption_budget,
    inference_service,
    kustomization,
    network_policy,
    service,
    service_account,
    serving_runtime,
)
from polyclass.deploy._topology import TopologyError

__all__ = ["write_bundle"]

#: The Kubernetes objects of a region, by file name.
_KUBE = {
    "serviceaccount.yaml": service_account,
    "deployment.yaml": deployment,
    "service.yaml": service,
    "hpa.yaml": autoscaler,
    "pdb.yaml": disruption_budget,
    "networkpolicy.yaml": network_policy,
}


def write_bundle(
    checked: CheckedTopology,
    out: str | Path,
    *,
    bake: bool = False,
    image_prefix: str = "REGISTRY/polyclass",
    overwrite: bool = False,
) -> Path:
    """Write the deploy bundle of a checked topology into the folder ``out``.

    Parameters
    ----------
    checked : CheckedTopology
        From :func:`polyclass.deploy.check_topology`: every region's store holds a
        verified replica of the version served.
    out : str or Path
        The bundle folder to create.
    bake : bool, default=False
        Copy the model into each region's image (fetched from that region's store, every
        file's sha256 verified) instead of fetching it when the container starts.
    image_prefix : str, default='REGISTRY/polyclass'
        Image names are ``<prefix>-<region>:<name>-<version>``.
    overwrite : bool, default=False
        Replace an existing folder at ``out``.

    Returns
    -------
    Path
        The bundle folder.

    Raises
    ------
    TopologyError
        A region has no store, or ``out`` exists without ``overwrite``.
    """
    topology = checked.topology
    target = Path(out)
    missing = [r.name for r in topology.regions if not r.store]
    if missing:
        raise TopologyError(
            topology.source,
            [
                f"region {name!r} has no store; a bundle's containers load the model from "
                'their region\'s store: add store = "s3://..." (or gs://, az://) to it'
                for name in missing
            ],
        )
    if target.exists() and not overwrite:
        raise TopologyError(
            topology.source, [f"{target} exists: choose another -o folder or pass --overwrite"]
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _fill(staging, checked, bake=bake, image_prefix=image_prefix)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _fill(folder: Path, checked: CheckedTopology, *, bake: bool, image_prefix: str) -> None:
    topology = checked.topology
    tag = checked.ref.replace(":", "-")
    plans = [
        RegionPlan(r, checked.ref, f"{image_prefix}-{r.name}:{tag}", __version__)
        for r in topology.regions
    ]
    for plan in plans:
        _region(folder / "regions" / plan.region.name, plan, bake=bake)
    router = folder / "router"
    router.mkdir()
    for name, document in router_files(topology, plans).items():
        _text(router / name, json.dumps(document, indent=1) + "\n")
    _text(folder / "docker-compose.yaml", _yaml(compose(topology, plans, baked=bake)))
    _text(folder / "README.md", readme(checked, plans, bake=bake))


def _region(folder: Path, plan: RegionPlan, *, bake: bool) -> None:
    model_dir = None
    if bake:
        model_dir = folder / "model"
        _bake(plan, model_dir)
    _text(folder / "Dockerfile", dockerfile(plan, baked=model_dir is not None))
    _text(folder / ".dockerignore", dockerignore(baked=model_dir is not None))
    kube = folder / "kubernetes"
    for name, build in _KUBE.items():
        _text(kube / name, _yaml(build(plan)))
    _text(kube / "kustomization.yaml", _yaml(kustomization(list(_KUBE), plan)))
    _text(folder / "kserve" / "servingruntime.yaml", _yaml(serving_runtime(plan)))
    _text(folder / "kserve" / "inferenceservice.yaml", _yaml(inference_service(plan)))


def _bake(plan: RegionPlan, model_dir: Path) -> None:
    """The model's artifact fetched from the region's own store (every sha256 checked)."""
    from polyclass.cloud import fetch

    artifact = fetch(plan.model, [plan.region.store or ""])
    shutil.copytree(artifact, model_dir)


def _yaml(document: dict[str, Any]) -> str:
    import yaml  # type: ignore[import-untyped]

    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))


def _text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
