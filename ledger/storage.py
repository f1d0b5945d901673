"""Where archived documents live: a local folder (the default) or an S3-compatible object store.

Both stores keep each document write-once under a key such as ``2026/INV-2026-00042.pdf``:
``put_once`` refuses a key that holds something already, and ``get`` checks the bytes
against a SHA-256. ``LEDGER_ARCHIVE_URL`` chooses the store: unset, the folder
``LEDGER_INVOICE_DIR``; ``s3://BUCKET/PREFIX`` an object store at ``LEDGER_S3_ENDPOINT``
(credentials from the usual ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` variables), which
several app hosts can share.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit


class StoreError(Exception):
    """The store could not be reached or refused the request; the message says which store and why."""


class AlreadyStored(StoreError):
    """The key holds a document already: documents are written once."""


class NotStored(StoreError):
    """Nothing is stored under the key."""


class Damaged(StoreError):
    """The stored bytes do not match the SHA-256 they must have."""

    def __init__(self, message: str, found: str):
        super().__init__(message)
        self.found = found


class Store(Protocol):
    """Write-once documents under keys; what every archive, and every backup destination, offers."""

    def put_once(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` unless something is there already (AlreadyStored); its SHA-256."""

    def put_file_once(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``, write-once, without reading it into memory."""

    def get(self, key: str, sha256: str | None = None) -> bytes:
        """The bytes under ``key``; NotStored when absent, Damaged when they do not match ``sha256``."""

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""

    def list(self) -> list[str]:
        """Every stored key, sorted; hidden ones (a part starting with a dot) are left out."""

    def remove(self, key: str) -> None:
        """Remove ``key`` (for a restore and for pruning old backups only; absent is fine)."""

    def writable(self) -> str | None:
        """None when a document could be stored now, otherwise what is wrong."""

    def where(self, key: str = "") -> str:
        """The store, or one key in it, as an operator would look for it."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """The key if it names a document inside the store (relative, no ``..``); ValueError otherwise."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or path.as_posix() != key:
        raise ValueError(f"{key!r} is not a key inside the archive")
    return key


def is_hidden(key: str) -> bool:
    """Drafts and probes start with a dot; they are never documents."""
    return any(part.startswith(".") for part in PurePosixPath(key).parts)


def _checked(data: bytes, sha256: str | None, where: str) -> bytes:
    found = sha256_of(data)
    if sha256 is not None and found != sha256:
        raise Damaged(f"{where} has SHA-256 {found}, not the recorded {sha256}", found)
    return data


# --- a local folder -------------------------------------------------------------------------------

class FolderStore:
    """Documents as files under a folder, each written whole (a hidden draft linked into place)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FolderStore({str(self.root)!r})"

    def put_once(self, key: str, data: bytes) -> str:
        self._link_once(key, lambda draft: draft.write_bytes(data))
        return sha256_of(data)

    def put_file_once(self, key: str, path: Path) -> None:
        self._link_once(key, lambda draft: shutil.copyfile(path, draft))

    def _link_once(self, key: str, write) -> None:
        """Write a hidden draft, sync it, and link it to its name: link() never replaces what is there,
        so two writers of one key cannot both succeed and a reader sees a whole file or none."""
        target = self.root / check_key(key)
        draft = draft_beside(target)
        try:
            write(draft)
            fsync(draft)
            os.link(draft, target)
        except FileExistsError:
            raise AlreadyStored(f"{target} exists already; archived documents are never replaced") from None
        finally:
            draft.unlink(missing_ok=True)
        fsync(target.parent)

    def get(self, key: str, sha256: str | None = None) -> bytes:
        path = self.root / check_key(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotStored(f"{path} is missing") from None
        except OSError as error:
            raise StoreError(f"{path} cannot be read ({error.strerror or error})") from None
        return _checked(data, sha256, str(path))

    def exists(self, key: str) -> bool:
        return (self.root / check_key(key)).is_file()

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for folder, subfolders, names in os.walk(self.root):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            found += [(Path(folder) / name).relative_to(self.root).as_posix()
                      for name in names if not name.startswith(".")]
        return sorted(found)

    def remove(self, key: str) -> None:
        (self.root / check_key(key)).unlink(missing_ok=True)

    def writable(self) -> str | None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ready-"):
                pass
        except OSError as error:
            return f"{self.root} is not writable ({os.strerror(error.errno) if error.errno else error})"
        return None

    def where(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)


def draft_beside(target: Path) -> Path:
    """A new, empty hidden file in ``target``'s folder (made if missing), to write before it takes its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    return Path(name)


def fsync(path: Path) -> None:
    """Sync a file's bytes, or a folder's names (a new name is durable once its folder is synced)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- an S3-compatible object store ----------------------------------------------------------------

#: how long a request may wait for the store: a /readyz probe must answer while the store is down
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 30
#: HTTP status codes of a refused conditional put (412) and of a concurrent one (409)
REFUSED_PUT = {"412", "409", "PreconditionFailed", "ConditionalRequestConflict"}
ABSENT = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    """Documents as objects under ``s3://BUCKET/PREFIX``; each object carries its SHA-256 as metadata."""

    def __init__(self, url: str, endpoint: str | None = None):
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"{url!r} is not an s3://BUCKET/PREFIX URL")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.endpoint = endpoint or None
        self._client = None
        self._pid = None

    def __repr__(self) -> str:
        return f"S3Store({self.where()!r}, endpoint={self.endpoint!r})"

    @property
    def client(self):
        """One boto3 client per process: a client must not cross a fork (the batch forks renderers)."""
        if self._client is None or self._pid != os.getpid():
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                            retries={"max_attempts": 2, "mode": "standard"},
                            s3={"addressing_style": "path"},  # works with any endpoint, no bucket DNS names
                            # checksums only where S3 requires them: not every S3-compatible store knows
                            # the newer CRC trailers; the SHA-256 in the metadata is what we check
                            request_checksum_calculation="when_required",
                            response_checksum_validation="when_required")
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint,
                                                           region_name=region, config=config)
            self._pid = os.getpid()
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{check_key(key)}" if self.prefix else check_key(key)

    def put_once(self, key: str, data: bytes) -> str:
        digest = sha256_of(data)
        self._put_once(key, data, digest)
        return digest

    def put_file_once(self, key: str, path: Path) -> None:
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            handle.seek(0)
            self._put_once(key, handle, digest)

    def _put_once(self, key: str, body, digest: str) -> None:
        """A conditional put (If-None-Match: *): the store itself refuses a key that exists, so two
        hosts writing one key cannot both succeed; SeaweedFS honours it like S3 does."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*",
                                   Metadata={"sha256": digest})
        except Exception as error:
            if _code(error) in REFUSED_PUT:
                raise AlreadyStored(f"{self.where(key)} exists already; archived documents are never "
                                    "replaced") from None
            raise self._failure(error, f"{self.where(key)} could not be written") from None

    def get(self, key: str, sha256: str | None = None) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data = response["Body"].read()
        except Exception as error:
            if _code(error) in ABSENT:
                raise NotStored(f"{self.where(key)} is missing") from None
            raise self._failure(error, f"{self.where(key)} could not be read") from None
        stored = response.get("Metadata", {}).get("sha256")
        _checked(data, stored, self.where(key))  # damaged in the store since it was written
        return _checked(data, sha256, self.where(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:
            if _code(error) in ABSENT:
                return False
            raise self._failure(error, f"{self.where(key)} could not be looked up") from None
        return True

    def list(self) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        keys = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
                keys += [item["Key"][len(start):] for item in page.get("Contents", ())]
        except Exception as error:
            raise self._failure(error, f"{self.where()} could not be listed") from None
        return sorted(key for key in keys if key and not is_hidden(key))

    def remove(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as error:
            raise self._failure(error, f"{self.where(key)} could not be removed") from None

    def writable(self) -> str | None:
        """Write and remove a hidden probe object: proves the endpoint, the credentials and the bucket."""
        probe = f".ready/{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(probe), Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=self._key(probe))
        except Exception as error:
            return str(self._failure(error, f"{self.where()} is not writable"))
        return None

    def where(self, key: str = "") -> str:
        path = "/".join(part for part in (self.prefix, key) if part)
        return f"s3://{self.bucket}/{path}"

    def _failure(self, error: Exception, what: str) -> StoreError:
        """A store error naming what failed; anything that is not a boto error is a bug and re-raised."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(error, BotoCoreError | ClientError):
            raise error
        detail = _code(error) or type(error).__name__
        at = f" at {self.endpoint}" if self.endpoint else ""
        return StoreError(f"{what}{at} ({detail}: {error})")


def _code(error: Exception) -> str | None:
    """The S3 error code (``NoSuchKey``, ``PreconditionFailed``, ``404`` …) of a boto ClientError."""
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


# --- choosing a store -----------------------------------------------------------------------------

_s3_stores: dict[tuple[str, str | None], S3Store] = {}


def open_url(url: str, endpoint: str | None = None) -> Store:
    """The store at ``url``: ``s3://BUCKET/PREFIX``, ``file:///PATH`` or a folder path."""
    if url.startswith("s3://"):
        # one per URL and endpoint, so its client (and connection pool) is reused by every request
        return _s3_stores.get((url, endpoint)) or _s3_stores.setdefault((url, endpoint), S3Store(url, endpoint))
    if url.startswith("file://"):
        return FolderStore(urlsplit(url).path)
    if "://" in url:
        raise ValueError(f"{url!r}: the archive is a folder or an s3://BUCKET/PREFIX URL")
    return FolderStore(url)


def for_config(config: Mapping) -> Store:
    """The invoice archive that ``config`` names: ``ARCHIVE_URL`` when set, else the folder ``INVOICE_DIR``."""
    url = config.get("ARCHIVE_URL")
    return open_url(url, config.get("S3_ENDPOINT")) if url else FolderStore(config["INVOICE_DIR"])


def as_store(where) -> Store:
    """A store as given, or the folder store of a path (callers that still pass the invoice folder)."""
    if isinstance(where, str | os.PathLike):
        return FolderStore(where)
    if isinstance(where, Mapping):
        return for_config(where)
    return where
