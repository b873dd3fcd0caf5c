"""Models in every cloud: stores as URLs (S3, GCS, Azure Blob, file://) through fsspec.

``write_bytes`` and ``read_bytes`` move one small object atomically (the registry's
backup uses them). Credentials come only from each cloud's standard mechanisms and
never appear in a message.
"""

from __future__ import annotations

from polyclass.cloud._errors import (
    CloudError,
    IntegrityError,
    ResidencyError,
    StoreError,
    UsageError,
)
from polyclass.cloud._stores import Store, read_bytes, split_url, write_bytes

__all__ = [
    "CloudError",
    "IntegrityError",
    "ResidencyError",
    "Store",
    "StoreError",
    "UsageError",
    "read_bytes",
    "split_url",
    "write_bytes",
]
