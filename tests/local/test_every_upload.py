"""Every upload accounted for, on the local stack with two requests at once on the endpoint:
the newest upload wins whatever finishes last, an S3 event delivered twice costs one GPU
request, and an upload whose notification is lost still gets its result (the reconciler)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from moto.s3 import notifications
from twi_infra.runtime_values import Coalescing
from twi_lambdas import names
from twi_lambdas.reconcile import reconcile
from twi_lambdas.settings import Settings

from twi_asr.local.config import LocalConfig
from twi_asr.local.stack import LocalStack

RESULT_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def stack(ct2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """``twi-asr local up --concurrency 2``, every upload its own request (no coalescing), so
    that the GPU requests counted here are files."""
    workdir = tmp_path_factory.mktemp("every-upload")
    config = LocalConfig(max_concurrent_invocations=2, coalescing=Coalescing(max_files=1))
    with LocalStack(model_dir=ct2_model_dir, workdir=workdir, config=config) as running:
        yield running


@pytest.fixture(scope="module")
def long_recording(data_clips: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 48 s of speech (the JFK clip four times, with pauses): two windows, so that the
    3 s upload that overwrites it, decoded beside it, finishes first."""
    audio, rate = sf.read(str(data_clips["jfk.mp3"].path), dtype="float32", always_2d=True)
    pause = np.zeros((rate, audio.shape[1]), dtype=np.float32)
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(str(path), np.concatenate([np.concatenate([audio, pause])] * 4), rate)
    return path


@pytest.fixture
def s3_events(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[Any, Callable[[], None]], None]], None]:
    """Replace how moto (in this process) delivers S3 events: ``route(key, send)``."""
    original = notifications.send_event

    def install(route: Callable[[Any, Callable[[], None]], None]) -> None:
        def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
            route(key, lambda: original(account_id, event_name, bucket, key))

        monkeypatch.setattr(notifications, "send_event", send_event)

    return install


def _reconcile_now(stack: LocalStack) -> Settings:
    """The reconciler's settings for this stack, with no grace: every upload is due."""
    return Settings(
        endpoint_name=stack.config.endpoint_name, bucket_name=stack.bucket, reconcile_grace_seconds=0
    )


def _transcript(stack: LocalStack, key: str) -> dict[str, Any]:
    where, document = stack.wait_for_result(key, RESULT_TIMEOUT_S)
    assert where.startswith(names.TRANSCRIPTS_PREFIX), document
    return document


def test_a_long_file_overwritten_while_in_flight_ends_with_the_short_files_transcript(
    stack: LocalStack, long_recording: Path, data_clips: dict[str, Any]
) -> None:
    # once: both completion orders are unit-tested (tests/lambdas/test_complete.py)
    key = "audio/overwritten/call.wav"
    before = stack.endpoint.snapshot().accepted if stack.endpoint else 0
    stack.upload(long_recording, key)
    while stack.endpoint is not None and stack.endpoint.snapshot().accepted == before:
        threading.Event().wait(0.05)  # the long request is submitted (pinned) ...
    stack.upload(data_clips["librivox_0880.wav"].path, key)  # ... and overwritten
    short_etag = stack.s3.head_object(Bucket=stack.bucket, Key=key)["ETag"].strip('"')
    stack.wait_until_idle(RESULT_TIMEOUT_S)  # both requests done, whichever finished last

    document = _transcript(stack, key)
    assert document["source"]["etag"] == short_etag
    assert "young man" in document["transcript"].lower()
    assert "ask not" not in document["transcript"].lower()
    pinned = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=names.UPLOAD_INPUT_PREFIX)
    assert pinned["KeyCount"] == 0  # every request's outcome recorded


def test_every_s3_event_delivered_twice_costs_one_gpu_request(
    stack: LocalStack, data_clips: dict[str, Any], s3_events: Any
) -> None:
    def twice(key: Any, send: Callable[[], None]) -> None:
        send()
        send()

    s3_events(twice)
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    before = stack.endpoint.snapshot().accepted if stack.endpoint else 0
    keys = [
        f"audio/twice/{i}-{name}"
        for i, name in enumerate(["jfk.mp3", "sonnet1.mp3", "librivox_0870.wav"] * 2)
    ]
    for key in keys:
        stack.upload(data_clips[key.split("-", 1)[1]].path, key)
    for key in keys:
        assert _transcript(stack, key)["source"]["key"] == key
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    assert stack.endpoint is not None and stack.endpoint.snapshot().accepted - before == len(keys)


def test_an_upload_whose_notification_is_lost_gets_its_result_from_the_reconciler(
    stack: LocalStack, data_clips: dict[str, Any], s3_events: Any
) -> None:
    lost = "audio/lost/jfk.mp3"
    dropped: list[str] = []

    def drop_the_first(key: Any, send: Callable[[], None]) -> None:
        if key.name == lost and not dropped:
            dropped.append(key.name)
            return
        send()

    s3_events(drop_the_first)
    stack.upload(data_clips["jfk.mp3"].path, lost)
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    assert dropped == [lost] and stack.get_json(f"{names.TRANSCRIPTS_PREFIX}lost/jfk.mp3.json") is None

    settings = _reconcile_now(stack)
    report = reconcile(settings, stack.s3)
    assert report.resubmitted == [lost]
    assert "ask not" in _transcript(stack, lost)["transcript"].lower()
    assert reconcile(settings, stack.s3).unaccounted == 0


def test_an_endpoint_that_never_answers_ends_in_a_failed_record(
    stack: LocalStack, data_clips: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request is accepted and its notification never comes: once it cannot answer any
    more, the reconciler submits the upload again, then records it as failed."""
    silent = "audio/silent/librivox_0880.wav"
    assert stack.endpoint is not None
    notify = stack.endpoint._notify

    def never_for_silent(topic: str, invocation: Any, started: Any, fields: dict[str, Any]) -> None:
        if "librivox_0880.wav" not in invocation.custom_attributes:
            notify(topic, invocation, started, fields)

    monkeypatch.setattr(stack.endpoint, "_notify", never_for_silent)
    before = stack.endpoint.snapshot().accepted
    stack.upload(data_clips["librivox_0880.wav"].path, silent)
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    assert stack.endpoint.snapshot().accepted == before + 1  # accepted, processed, never announced

    settings = _reconcile_now(stack)
    assert reconcile(settings, stack.s3).in_flight == [silent]  # it might still answer
    too_late = datetime.now(UTC) + timedelta(seconds=settings.request_lifetime_seconds + 60)
    assert reconcile(settings, stack.s3, now=too_late).resubmitted == [silent]
    stack.wait_until_idle(RESULT_TIMEOUT_S)
    assert stack.endpoint.snapshot().accepted == before + 2  # submitted once more, silent again
    assert reconcile(settings, stack.s3, now=too_late + timedelta(seconds=60)).gave_up == [silent]
    where, document = stack.wait_for_result(silent, 10)
    assert where.startswith(names.FAILED_PREFIX) and document["stage"] == "reconcile"
