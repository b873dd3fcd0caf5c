"""The polyclass artifact: a directory of ``model.json`` plus ``.npy`` arrays, no pickle.

``save_artifact`` writes one atomically; ``read_artifact`` loads and verifies it;
``fingerprint_table`` hashes training data for lineage. Loading never runs code:
arrays are read with ``allow_pickle=False`` and every file's sha256 is checked.
Only regular files of the directory are opened (no links, FIFOs or devices), and
``model.json`` is bounded in size (:data:`MAX_MANIFEST_BYTES`) and nesting
(:data:`MAX_JSON_DEPTH`); ``parse_json_document`` applies the same JSON rules elsewhere.
"""

from __future__ import annotations

from polyclass.artifact._checksum import sha256_file
from polyclass.artifact._errors import ArtifactError
from polyclass.artifact._fingerprint import fingerprint_table
from polyclass.artifact._format import FORMAT_VERSION, MANIFEST_NAME, Artifact
from polyclass.artifact._json import MAX_JSON_DEPTH, MAX_MANIFEST_BYTES, parse_json_document
from polyclass.artifact._read import read_artifact, verify_artifact
from polyclass.artifact._write import save_artifact

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_JSON_DEPTH",
    "MAX_MANIFEST_BYTES",
    "Artifact",
    "ArtifactError",
    "fingerprint_table",
    "parse_json_document",
    "read_artifact",
    "save_artifact",
    "sha256_file",
    "verify_artifact",
]
