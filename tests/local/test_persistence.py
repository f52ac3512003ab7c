"""The bucket mirror on its own (no model, no Lambdas): what S3 answered as written is on disk,
comes back as it was, and the uploads without a result are notified to the submit queue again."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from local_stack_helpers import FAST_REDRIVE, drain
from twi_lambdas import names
from twi_lambdas.events import parse_s3_notification
from twi_lambdas.ids import inference_id
from twi_lambdas.store import Revision

from twi_asr.local.moto_server import MotoServer
from twi_asr.local.persistence import BucketMirror
from twi_asr.local.provision import Resources, provision
from twi_asr.local.stack import LocalStack

BUCKET = FAST_REDRIVE.bucket
TWI_KEY = "audio/Twi nsɛm/Dɛn na ɛno+ɔ.mp3"


@dataclass
class Mirrored:
    s3: Any
    sqs: Any
    resources: Resources
    mirror: BucketMirror


@contextmanager
def mirrored_moto(root: Path) -> Iterator[Mirrored]:
    """A provisioned moto server whose bucket is restored from and mirrored to ``root``."""
    mirror = BucketMirror(root, BUCKET, FAST_REDRIVE.region)
    with MotoServer(on_s3_write=mirror.sync) as server:
        session = server.session(FAST_REDRIVE.region)
        resources = provision(session, server.url, FAST_REDRIVE)
        mirror.restore()
        yield Mirrored(
            session.client("s3", endpoint_url=server.url),
            session.client("sqs", endpoint_url=server.url),
            resources,
            mirror,
        )


def describe(s3: Any, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=BUCKET, Key=key)
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    fields = ("ETag", "VersionId", "LastModified", "ContentType", "Metadata", "ContentLength")
    return {"body": body, **{name: head.get(name) for name in fields}}


def result(s3: Any, key: str, upload_key: str, upload: dict[str, Any]) -> None:
    """A result written as the pipeline writes one: its revision names the upload's inference id."""
    revision = Revision("0001", inference_id(BUCKET, upload_key, upload["ETag"], upload["VersionId"]))
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"transcript": "x"}', Metadata=revision.metadata())


def test_the_bucket_survives_a_restart_and_pending_uploads_are_notified_again(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    big = bytes(range(256)) * (5 * 4096 + 1)  # just over 5 MiB: a two-part multipart upload
    (tmp_path / "big.wav").write_bytes(big)
    with mirrored_moto(root) as moto:
        s3 = moto.s3
        s3.put_object(Bucket=BUCKET, Key="audio/done.mp3", Body=b"ID3 first", ContentType="audio/mpeg")
        done = s3.put_object(
            Bucket=BUCKET, Key="audio/done.mp3", Body=b"ID3 second", Metadata={"language": "tw"}
        )  # replaced: the latest version is kept, and it is the one transcribed
        result(s3, "transcripts/done.mp3.json", "audio/done.mp3", done)
        s3.put_object(Bucket=BUCKET, Key=TWI_KEY, Body=b"ID3 pending", Metadata={"language": "tw"})
        first = s3.put_object(Bucket=BUCKET, Key="audio/stale.ogg", Body=b"OggS first")
        result(s3, "failed/stale.ogg.json", "audio/stale.ogg", first)  # the earlier upload's
        s3.put_object(Bucket=BUCKET, Key="audio/stale.ogg", Body=b"OggS re-uploaded")
        s3.put_object(Bucket=BUCKET, Key=f"{names.UPLOAD_INPUT_PREFIX}abc-123", Body=b"")  # in flight
        s3.put_object(Bucket=BUCKET, Key="audio/calls/", Body=b"")  # a folder marker: no work
        s3.upload_file(
            str(tmp_path / "big.wav"),
            BUCKET,
            "audio/big.wav",
            Config=TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20),
        )
        for key in ("audio/gone.mp3", "audio/gone-too.mp3"):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"ID3 deleted")
        s3.delete_object(Bucket=BUCKET, Key="audio/gone.mp3")
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "audio/gone-too.mp3"}]})
        kept = ["audio/done.mp3", "transcripts/done.mp3.json", TWI_KEY, "failed/stale.ogg.json"]
        kept += ["audio/stale.ogg", "audio/calls/", "audio/big.wav"]
        before = {key: describe(s3, key) for key in kept}
    assert before["audio/big.wav"]["ETag"].endswith('-2"') and before["audio/big.wav"]["body"] == big
    assert len(list(root.glob("*.json"))) == len(kept) + 1 == len(list(root.glob("*.body")))

    (root / "0123.interrupted.body").write_bytes(b"a body whose record was never written")
    with mirrored_moto(root) as moto:
        after = {key: describe(moto.s3, key) for key in kept}
        listed = moto.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        recovery = moto.mirror.reconcile()
        queued = drain(moto.sqs, moto.resources.submit_queue_url)
    notified = [obj for message in queued for obj in parse_s3_notification(message["Body"])]

    assert after == before
    assert sorted(o["Key"] for o in listed) == sorted(kept)
    assert not (root / "0123.interrupted.body").exists()
    assert len(list(root.glob("*.json"))) == len(kept) == len(list(root.glob("*.body")))  # marker gone
    assert (recovery.objects, recovery.uploads, recovery.results, recovery.resubmitted) == (7, 4, 1, 3)
    resubmitted = sorted((obj.key, obj.etag) for obj in notified)
    expected = ["audio/big.wav", "audio/stale.ogg", TWI_KEY]
    assert resubmitted == sorted((key, before[key]["ETag"].strip('"')) for key in expected)
    assert "recovered 4 uploads, 1 results" in recovery.summary(root)


def test_a_record_is_replaced_atomically(tmp_path: Path) -> None:
    """A record always names a body that exists; the previous body goes once it is replaced."""
    root = tmp_path / "bucket"
    with mirrored_moto(root) as moto:
        moto.s3.put_object(Bucket=BUCKET, Key="audio/a.mp3", Body=b"one")
        moto.s3.put_object(Bucket=BUCKET, Key="audio/a.mp3", Body=b"two")
    (record,) = root.glob("*.json")
    stored = json.loads(record.read_text(encoding="utf-8"))
    assert stored["key"] == "audio/a.mp3" and (root / stored["body"]).read_bytes() == b"two"
    assert [p.name for p in root.glob("*.body")] == [stored["body"]]


def test_two_stacks_never_share_a_work_directory(tmp_path: Path) -> None:
    """The first holds a lock on it from the very start (here: one held by hand)."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match=r"already running for .*\(still starting\)"):
            LocalStack(workdir=tmp_path, persist=True).start()
    finally:
        os.close(fd)
    assert not (tmp_path / "bucket").exists()
