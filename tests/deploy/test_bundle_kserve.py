"""The bundle's KServe objects against the KServe API's OpenAPI models.

The ``kserve`` PyPI package carries, for every object of its CRDs, the OpenAPI
generator's ``openapi_types`` (field -> type) and ``attribute_map`` (field -> JSON key),
and its setters name the required fields. The wheel is downloaded (no dependencies,
nothing installed) into .tools/ and read with ``ast``: every key of our objects must be
a field of its type (strict), every value of that type, every required field present.
Kubernetes types inside (the runtime's container) go through kubernetes-validate.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploy_helpers import Replicated
from test_bundle import _topology

from polyclass.deploy import check_topology, load_topology
from polyclass.deploy._bundle import write_bundle

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KSERVE = "0.21.0"
WHEEL = ROOT / ".tools" / "kserve" / f"kserve-{KSERVE}-py3-none-any.whl"

Schema = dict[str, tuple[dict[str, str], set[str]]]  # class -> (json key -> type, required)


def _read_models(wheel: Path) -> Schema:
    schema: Schema = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not re.fullmatch(r"kserve/models/v1\w+\.py", name):
                continue
            source = archive.read(name).decode()
            for node in ast.parse(source).body:
                if isinstance(node, ast.ClassDef):
                    schema[node.name] = _fields(node, source)
    return schema


def _fields(cls: ast.ClassDef, source: str) -> tuple[dict[str, str], set[str]]:
    found: dict[str, dict[str, str]] = {}
    for item in cls.body:
        if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
            if item.targets[0].id in ("openapi_types", "attribute_map"):
                found[item.targets[0].id] = ast.literal_eval(item.value)
    types, keys = found["openapi_types"], found["attribute_map"]
    required = set(re.findall(r"Invalid value for `(\w+)`, must not be `None`", source))
    return {keys[a]: t for a, t in types.items()}, {keys[a] for a in required if a in keys}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, replicated: Replicated) -> Path:
    tmp = tmp_path_factory.mktemp("bundle-kserve")
    return write_bundle(check_topology(load_topology(_topology(tmp, replicated))), tmp / "out")


@pytest.fixture(scope="module")
def models() -> Schema:
    if not WHEEL.exists():  # as the Makefile fetches it
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest",
             str(WHEEL.parent), f"kserve=={KSERVE}"],
            check=True,
        )  # fmt: skip
    return _read_models(WHEEL)


def _check(value: Any, kind: str, models: Schema, where: str, k8s: list[tuple[str, Any]]) -> None:
    if kind.startswith("list["):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _check(item, kind[5:-1], models, f"{where}[{i}]", k8s)
    elif kind.startswith("dict("):
        assert isinstance(value, dict), where
        inner = kind[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            _check(item, inner, models, f"{where}.{key}", k8s)
    elif kind in models:
        fields, required = models[kind]
        assert isinstance(value, dict), f"{where}: {kind} is an object"
        unknown = set(value) - set(fields)
        assert not unknown, f"{where}: {sorted(unknown)} are not fields of {kind}"
        missing = required - set(value)
        assert not missing, f"{where}: {kind} requires {sorted(missing)}"
        for key, item in value.items():
            _check(item, fields[key], models, f"{where}.{key}", k8s)
    elif kind in ("str", "int", "bool", "float"):
        expected = {"str": str, "int": int, "bool": bool, "float": (int, float)}[kind]
        assert isinstance(value, expected) and not (kind == "int" and isinstance(value, bool)), (
            f"{where}: expected {kind}, got {value!r}"
        )
    elif kind.startswith("V1"):  # a core Kubernetes type: kubernetes-validate checks it
        k8s.append((kind, value))
    else:
        assert kind == "object", f"{where}: unknown type {kind}"


def _core_objects_valid(k8s: list[tuple[str, Any]], tmp_path: Path) -> None:
    """The Kubernetes-typed parts, wrapped in a Pod where they are containers."""
    pods = []
    for kind, value in k8s:
        if kind == "V1Container":
            pods.append(
                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                 "spec": {"containers": [value]}}
            )  # fmt: skip
        elif kind == "V1ObjectMeta":
            pods.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": value})
    for i, doc in enumerate(pods):
        path = tmp_path / f"core-{i}.yaml"
        path.write_text(yaml.safe_dump(doc))
        done = subprocess.run(
            [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        ("servingruntime.yaml", "V1alpha1ServingRuntime"),
        ("inferenceservice.yaml", "V1beta1InferenceService"),
    ],
)
def test_kserve_objects_match_the_kserve_api(
    bundle: Path, models: Schema, tmp_path: Path, file: str, kind: str
) -> None:
    for region in sorted((bundle / "regions").iterdir()):
        document = yaml.safe_load((region / "kserve" / file).read_text())
        k8s: list[tuple[str, Any]] = []
        _check(document, kind, models, kind, k8s)
        _core_objects_valid(k8s, tmp_path)
        assert any(k == "V1ObjectMeta" for k, _ in k8s)


def test_the_check_is_strict(bundle: Path, models: Schema) -> None:
    document = yaml.safe_load((bundle / "regions/eu-west/kserve/inferenceservice.yaml").read_text())
    document["spec"]["predictor"]["model"]["storageURI"] = "s3://typo"
    with pytest.raises(AssertionError, match="storageURI"):
        _check(document, "V1beta1InferenceService", models, "isvc", [])
    del document["spec"]["predictor"]["model"]["storageURI"]
    del document["spec"]["predictor"]["model"]["modelFormat"]
    with pytest.raises(AssertionError, match="requires"):
        _check(document, "V1beta1InferenceService", models, "isvc", [])
