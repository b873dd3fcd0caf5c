"""The local content-addressed cache: verified blobs, and artifact directories built from them.

``$POLYCLASS_CACHE`` (default ``$XDG_CACHE_HOME/polyclass`` or ``~/.cache/polyclass``)
holds ``blobs/<sha256>`` (each hashed before it enters), ``artifacts/<id>/`` (hard links
to blobs under the artifact's file names) and ``replicas/`` (manifests already read,
so a warm start needs no store). Every entry appears by one rename, never half-written;
a warm start re-hashes what it uses, and a damaged entry is discarded to be fetched again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from polyclass.cloud._errors import IntegrityError
from polyclass.cloud._layout import FileEntry, Manifest, parse_manifest

ENV_CACHE = "POLYCLASS_CACHE"
_CHUNK = 8 << 20


def cache_root(root: str | Path | None = None) -> Path:
    """The cache directory: ``root``, else ``$POLYCLASS_CACHE``, else the user cache."""
    if root is not None:
        return Path(root).expanduser().absolute()
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "polyclass"


def hash_file(path: Path) -> str:
    """The hex sha256 of a local file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Cache:
    """One local cache directory."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = cache_root(root)

    def blob(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def has_blob(self, sha256: str, size: int) -> bool:
        path = self.blob(sha256)
        return path.is_file() and path.stat().st_size == size

    def temporary(self) -> Path:
        """A fresh temporary file inside the cache (same file system as the blobs)."""
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder)
        os.close(fd)
        return Path(name)

    def admit(self, chunks: Iterable[bytes], sha256: str, where: str) -> Path:
        """Write downloaded ``chunks`` into the cache, hashing them on the way in; the
        blob appears (by one rename) only when its sha256 matches."""
        tmp = self.temporary()
        try:
            digest = hashlib.sha256()
            with open(tmp, "wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    handle.write(chunk)
            actual = digest.hexdigest()
            if actual != sha256:
                raise IntegrityError(
                    f"{where} is corrupt: its sha256 is {actual[:12]}…, the manifest records "
                    f"{sha256[:12]}…. Run `polyclass cloud repair` to heal it."
                )
            target = self.blob(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return target
        finally:
            tmp.unlink(missing_ok=True)

    def local_files(self, directory: Path) -> list[FileEntry]:
        """Every file of a local artifact directory with its sha256 and size.

        Hashes are remembered by (path, inode, size, mtime), as git's index does, so an
        unchanged 200 MB version is not re-read on every replicate.
        """
        memo_path = self.root / "hashes.json"
        try:
            memo: dict[str, list[object]] = json.loads(memo_path.read_bytes())
        except (OSError, ValueError):
            memo = {}
        entries, changed = [], False
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            stat = path.stat()
            key = str(path.absolute())
            stamp: list[object] = [stat.st_ino, stat.st_size, stat.st_mtime_ns]
            known = memo.get(key)
            if isinstance(known, list) and known[:3] == stamp and isinstance(known[3], str):
                sha = known[3]
            else:
                sha, changed = hash_file(path), True
                memo[key] = [*stamp, sha]
            entries.append(FileEntry(path.name, sha, stat.st_size))
        if changed:
            self._write_atomic(memo_path, json.dumps(memo).encode())
        return entries

    # ------------------------------------------------------------------ manifests
    def _replica_file(self, key: str) -> Path:
        return self.root / "replicas" / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def cached_manifest(self, key: str) -> Manifest | None:
        """The manifest remembered for ``key`` (a store URL + name + version), if any."""
        path = self._replica_file(key)
        if not path.is_file():
            return None
        return parse_manifest(path.read_bytes(), str(path))

    def remember_manifest(self, key: str, manifest: Manifest) -> None:
        self._write_atomic(self._replica_file(key), manifest.to_bytes())

    # ------------------------------------------------------------------ artifacts
    def _home(self, manifest: Manifest) -> Path:
        identity = hashlib.sha256(
            json.dumps([[f.path, f.sha256] for f in manifest.files]).encode()
        ).hexdigest()
        return self.root / "artifacts" / identity[:32]

    def damaged(self, manifest: Manifest) -> list[str]:
        """The files of ``manifest`` whose cached bytes no longer hash to its sha256.

        Re-hashes the built artifact directory (else the blobs): a blob was hashed on
        the way in, but a disk error or a cleaner can change it in place, size kept.
        """
        built = self._home(manifest) / manifest.name
        bad = []
        for entry in manifest.files:
            path = built / entry.path if built.is_dir() else self.blob(entry.sha256)
            try:
                intact = hash_file(path) == entry.sha256
            except OSError:
                intact = False
            if not intact:
                bad.append(entry.path)
        return bad

    def discard(self, manifest: Manifest, paths: Iterable[str]) -> None:
        """Drop the artifact directory of ``manifest`` and the blobs of its ``paths``, so
        the next fetch downloads them again."""
        home = self._home(manifest)
        if home.is_dir():  # renamed away first: a reader sees the whole directory or none
            trash = Path(tempfile.mkdtemp(dir=home.parent, prefix=".discard-"))
            os.replace(home, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        wanted = set(paths)
        for entry in manifest.files:
            if entry.path in wanted:
                self.blob(entry.sha256).unlink(missing_ok=True)

    def artifact(self, manifest: Manifest) -> Path:
        """The artifact directory for ``manifest``, built from cached blobs if needed."""
        # The directory is named after the model, so a server built on it names it right.
        home = self._home(manifest)
        target = home / manifest.name
        if target.is_dir():
            return target
        home.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=home.parent, prefix=".build-"))
        try:
            (building / manifest.name).mkdir()
            for entry in manifest.files:
                _link_or_copy(self.blob(entry.sha256), building / manifest.name / entry.path)
            os.replace(building, home)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            if not target.is_dir():  # another process may have built it first
                raise
        return target

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or no hard links: copy instead
        shutil.copyfile(source, target)
