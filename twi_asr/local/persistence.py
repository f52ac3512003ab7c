"""The local bucket kept on disk, so that a local stack that stops or crashes loses nothing.

What is kept: every object of the stack's bucket (uploads, transcripts, failures, the
endpoint's outputs), its latest version, with its metadata (content type, ``x-amz-meta-*``),
ETag, version id and LastModified. When: as it is written, before S3 answers. moto answers
through ``moto_server._S3WriteHook``, which calls ``BucketMirror.sync`` after each successful
PUT, POST or DELETE on the bucket, so an upload that got its 200 is on disk whatever happens
to the process next (Ctrl-C, SIGTERM, SIGKILL, a crash). Mirroring at write time, not by
reading the bucket back at some safe point, is what makes a crash safe: a crash has no safe
point. (moto 5.2.5 has no storage backend of its own; its request recorder would replay SQS
receives and deletes too, which is not a state to restore.)

What is not kept: SQS messages, SNS deliveries and the endpoint's queue of requests, nor the
pipeline's markers of requests in that queue (the pinned inputs under
``names.UPLOAD_INPUT_PREFIX``, ``twi_lambdas.inputs``, and the coalesced requests' inputs under
``names.BATCH_INPUT_PREFIX``: a restart empties the queue they stand for, so ``restore`` drops
them, or submit would skip each resubmitted upload as "in flight").
None of it is needed, because all pending work follows from the bucket: an upload under
``audio/`` is done when ``transcripts/<path>.json`` or ``failed/<path>.json`` carries its
inference id (``store.Revision``, the check submit and the reconcile Lambda make), and pending
otherwise, whatever stage it had reached. On start ``restore`` loads the bucket back into moto
(without notifications) and ``reconcile`` re-sends, for each pending upload, the very
ObjectCreated notification S3 sends for a PUT (moto's ``send_event``), through the bucket's
notification configuration to the submit queue. Doing work twice is harmless: submit skips an
upload whose result is recorded and results are written with ``put_if_newer``, so an upload
whose result was being written when the stack stopped ends with one result, not two. Older
versions of an object are not kept (the bucket is versioned: its history, not its contents,
starts again at each start).

On disk, in ``<workdir>/bucket/``: ``<sha256(key)>.json`` (the key, its metadata and the name
of its body file) and ``<sha256(key)>.<token>.body``. Hashed names because keys may be 1024
bytes long, hold ``..`` or both ``a/`` and ``a/b``. A write stores the body under a new name,
then replaces the record (``os.replace``, atomic): a crash in between leaves the previous
record whole and an unreferenced body, removed at the next start. Nothing is fsync'ed: this
guards against the stack's process dying, not against the machine losing power.

moto internals used, checked by ``tests/local/test_persistence.py`` against the pinned moto:
``s3_backends``, ``S3Backend.get_object``/``put_object(..., disable_notification=True)``,
``FakeKey.set_metadata``/``last_modified``/``_version_id`` and ``notifications.send_event``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from twi_lambdas import keys, names
from twi_lambdas.ids import inference_id
from twi_lambdas.store import Revision

from twi_asr.local.config import ACCOUNT_ID

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".json"
BODY_SUFFIX = ".body"
_USER_METADATA = "x-amz-meta-"
# the inputs of requests in the endpoint's queue, which a restart empties (see above)
_REQUEST_MARKERS = (names.UPLOAD_INPUT_PREFIX, names.BATCH_INPUT_PREFIX)


@dataclass(frozen=True)
class Recovery:
    """What a start found on disk and what it did about it."""

    objects: int  # every object restored, results and endpoint outputs included
    uploads: int  # under audio/ (folder markers aside)
    results: int  # uploads that already had their transcript or failure
    resubmitted: int  # uploads without one: their ObjectCreated notification sent again

    def summary(self, where: Path) -> str:
        if not self.objects:
            return f"no earlier uploads in {where}"
        return (
            f"recovered {self.uploads} uploads, {self.results} results from {where}; "
            f"resubmitted {self.resubmitted} pending"
        )


@dataclass(frozen=True)
class _Stored:
    identity: tuple[str, str, str]  # version id, ETag, LastModified: what the disk holds
    body_file: str


class BucketMirror:
    """One bucket of the in-process moto server, mirrored to ``root`` as it is written."""

    def __init__(self, root: Path, bucket: str, region: str) -> None:
        self.root = Path(root)
        self.bucket = bucket
        self._region = region
        self._lock = threading.Lock()
        self._stored: dict[str, _Stored] = {}
        self._armed = False  # no sync before restore: an empty new bucket must not erase the disk

    # --- at start ---------------------------------------------------------------------------
    def restore(self) -> int:
        """Load every stored object into moto's (empty, provisioned) bucket, without sending
        notifications; from now on every write is mirrored. Returns how many were loaded."""
        self.root.mkdir(parents=True, exist_ok=True)
        backend = self._backend()
        with self._lock:
            self._stored.clear()
            for record_path in sorted(self.root.glob(f"*{RECORD_SUFFIX}")):
                record = json.loads(record_path.read_text(encoding="utf-8"))
                try:
                    body = (self.root / record["body"]).read_bytes()
                except FileNotFoundError:  # never written so by sync: removed by hand?
                    log.warning("%s: its body %s is missing; not restored", record_path, record["body"])
                    continue
                if record["key"].startswith(_REQUEST_MARKERS):  # an emptied queue's inputs
                    continue
                obj = backend.put_object(
                    self.bucket, record["key"], body, etag=record["etag"], disable_notification=True
                )
                obj.set_metadata(dict(record["metadata"]))
                obj.last_modified = datetime.fromisoformat(record["last_modified"])
                obj._version_id = record["version_id"]
                self._stored[record["key"]] = _Stored(_identity(obj), record["body"])
            referenced = {stored.body_file for stored in self._stored.values()}
            kept = {f"{_file_stem(key)}{RECORD_SUFFIX}" for key in self._stored} | referenced
            for leftover in self.root.iterdir():  # dropped markers, interrupted writes, temporary files
                if leftover.name not in kept:
                    leftover.unlink()
            self._armed = True
            return len(self._stored)

    def reconcile(self) -> Recovery:
        """Re-send the ObjectCreated notification of every upload without a result as new."""
        from moto.s3 import notifications

        uploads, pending = self._uploads()
        bucket = self._backend().get_bucket(self.bucket)
        for upload in pending:
            notifications.send_event(
                ACCOUNT_ID, notifications.S3NotificationEvent.OBJECT_CREATED_PUT_EVENT, bucket, upload
            )
        return Recovery(len(self._stored), uploads, uploads - len(pending), len(pending))

    def pending(self) -> int:
        """How many uploads have no result yet (what a stop now would leave to the next start)."""
        return len(self._uploads()[1])

    def _uploads(self) -> tuple[int, list[Any]]:
        """(uploads under audio/, those without a result at least as new as themselves)."""
        backend = self._backend()
        with self._lock:
            kept = sorted(self._stored)
        uploads, pending = 0, []
        for key in kept:
            path = keys.audio_path(key)
            if path is None or keys.is_folder_marker(key):
                continue
            upload = backend.get_object(self.bucket, key)
            if upload is None:
                continue
            uploads += 1
            wanted = inference_id(self.bucket, key, upload.etag, upload.version_id)
            results = (
                backend.get_object(self.bucket, k) for k in (keys.transcript_key(path), keys.failed_key(path))
            )
            if not any(_revision_id(result) == wanted for result in results):
                pending.append(upload)
        return uploads, pending

    # --- while running ------------------------------------------------------------------------
    def sync(self, bucket: str, key: str | None) -> None:
        """Make the disk hold what moto holds for ``key`` (every key for ``None``: a request
        on the bucket, such as DeleteObjects). The ``moto_server.S3WriteHook``."""
        if bucket != self.bucket:
            return
        with self._lock:
            if not self._armed:
                return
            if key is not None:
                self._sync_key(key)
                return
            backend_keys = list(dict.keys(self._backend().get_bucket(self.bucket).keys))
            for each in {*backend_keys, *self._stored}:
                self._sync_key(each)

    def _sync_key(self, key: str) -> None:
        obj = self._backend().get_object(self.bucket, key)
        stored = self._stored.get(key)
        name = _file_stem(key)
        if obj is None:  # deleted (or a delete marker on top)
            if stored is not None:
                (self.root / f"{name}{RECORD_SUFFIX}").unlink(missing_ok=True)
                (self.root / stored.body_file).unlink(missing_ok=True)
                del self._stored[key]
            return
        identity = _identity(obj)
        if stored is not None and stored.identity == identity:
            return  # a request that changed nothing kept here (tags, ACL, a multipart part)
        body_file = f"{name}.{uuid.uuid4().hex}{BODY_SUFFIX}"
        _write_atomically(self.root / body_file, obj.value)
        record = {
            "key": key,
            "etag": obj.etag.strip('"'),
            "version_id": obj.version_id,
            "last_modified": obj.last_modified.isoformat(),
            "metadata": dict(obj.metadata),
            "size": obj.size,
            "body": body_file,
        }
        _write_atomically(
            self.root / f"{name}{RECORD_SUFFIX}", json.dumps(record, ensure_ascii=False).encode("utf-8")
        )
        if stored is not None:
            (self.root / stored.body_file).unlink(missing_ok=True)
        self._stored[key] = _Stored(identity, body_file)

    def _backend(self) -> Any:
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        return s3_backends[ACCOUNT_ID][get_partition(self._region)]


def _revision_id(result: Any) -> str | None:
    """The inference id a result object was written for (``store.Revision`` in its user
    metadata, which moto keeps under the header names ``x-amz-meta-<name>``)."""
    if result is None:
        return None
    user = {k.lower().removeprefix(_USER_METADATA): v for k, v in result.metadata.items()}
    revision = Revision.from_metadata(user)
    return revision.id if revision is not None else None


def _identity(obj: Any) -> tuple[str, str, str]:
    return str(obj.version_id), str(obj.etag), obj.last_modified.isoformat()


def _file_stem(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
