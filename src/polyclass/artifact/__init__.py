"""The polyclass artifact: a directory of ``model.json`` plus ``.npy`` arrays, no pickle.

``save_artifact`` writes one atomically; ``read_artifact`` loads and verifies it;
``fingerprint_table`` hashes training data for lineage. Loading never runs code:
arrays are read with ``allow_pickle=False`` and every file's sha256 is checked.
"""

from __future__ import annotations

from polyclass.artifact._checksum import sha256_file
from polyclass.artifact._errors import ArtifactError
from polyclass.artifact._fingerprint import fingerprint_table
from polyclass.artifact._format import FORMAT_VERSION, MANIFEST_NAME, Artifact
from polyclass.artifact._read import read_artifact, verify_artifact
from polyclass.artifact._write import save_artifact

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "Artifact",
    "ArtifactError",
    "fingerprint_table",
    "read_artifact",
    "save_artifact",
    "sha256_file",
    "verify_artifact",
]
