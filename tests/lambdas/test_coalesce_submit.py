"""Submit coalesces short uploads that arrive in one invocation into one endpoint request,
against moto: the uploads' own S3 events (a versioned bucket announcing ``audio/`` to a
queue) in, InvokeEndpointAsync calls and the coalesced request's input object out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lambda_events import sqs_event
from lambda_support import BUCKET, CONTEXT, Invocations, created_events, exists
from twi_contract import BATCH_CONTENT_TYPE, BatchItem, unpack_batch
from twi_lambdas import aws, batches, inputs, keys, names, submit
from twi_lambdas.ids import inference_id

DATA = Path(__file__).resolve().parents[1] / "data"
SHORT = {  # key -> (clip, upload metadata): each asks for its own options
    "audio/notes/jfk.opus": ("jfk.opus", {}),
    "audio/notes/Kɔfi.mp3": ("twi_34997394.mp3", {"language": "ak"}),
    "audio/notes/Ama.mp3": ("twi_36831073.mp3", {"language": "tw", "task": "translate"}),
    "audio/notes/sonnet.ogg": ("sonnet1.ogg", {}),
    "audio/notes/sonnet.webm": ("sonnet1.webm", {"language": "en"}),
}
LONG = ("audio/interviews/librivox_0870.wav", "librivox_0870.wav")  # 227 kB
COALESCE_MAX_FILE_BYTES = 100_000  # LONG is over it; every SHORT clip under it


@pytest.fixture
def coalescing(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> None:
    monkeypatch.setenv(names.ENV_COALESCE_MAX_FILE_BYTES, str(COALESCE_MAX_FILE_BYTES))


def put(s3: Any, uploads: dict[str, tuple[str, dict[str, str]]]) -> dict[str, str]:
    """Upload each clip; key -> its inference id, as submit derives it."""
    ids = {}
    for key, (clip, metadata) in uploads.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=(DATA / clip).read_bytes(), Metadata=metadata)
        head = s3.head_object(Bucket=BUCKET, Key=key)
        ids[key] = inference_id(BUCKET, key, head["ETag"], head.get("VersionId"))
    return ids


def one_invocation(uploads_queue: tuple[Any, str]) -> dict[str, Any]:
    """Every S3 event sent since the last call, one SQS message each, in one Lambda event."""
    return sqs_event(*({"Records": [record]} for record in created_events(*uploads_queue)))


def batch_calls(sent: Invocations) -> list[dict[str, Any]]:
    return [c for c in sent.calls if c["ContentType"] == BATCH_CONTENT_TYPE]


def unpacked(s3: Any, call: dict[str, Any]) -> list[BatchItem]:
    bucket, key = keys.parse_s3_uri(call["InputLocation"])
    return unpack_batch(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_short_uploads_that_arrive_together_go_as_one_request_and_a_long_one_alone(
    s3: Any,
    uploads_queue: tuple[Any, str],
    lambda_invocations: Invocations,
    coalescing: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = put(s3, {**dict(list(SHORT.items())[:2]), LONG[0]: (LONG[1], {}), **dict(list(SHORT.items())[2:])})

    assert submit.handler(one_invocation(uploads_queue), CONTEXT) == {"batchItemFailures": []}

    long_call, batch_call = lambda_invocations.calls  # the long one first: it was not held back
    assert long_call["InferenceId"] == ids[LONG[0]] and long_call["ContentType"] == "audio/wav"
    batch = batch_call["InferenceId"]
    assert batch.startswith("batch-") and len(batch) <= 64
    assert batch_call["InputLocation"] == f"s3://{BUCKET}/{names.BATCH_INPUT_PREFIX}{batch}"
    assert "CustomAttributes" not in batch_call  # each file carries its own
    assert batch_call["InvocationTimeoutSeconds"] == long_call["InvocationTimeoutSeconds"] == 1800
    items = {item.id: item for item in unpacked(s3, batch_call)}
    assert list(items) == [ids[key] for key in SHORT]  # in arrival order
    for key, (clip, _) in SHORT.items():
        item = items[ids[key]]
        assert item.body == (DATA / clip).read_bytes()
        claim = inputs.read(s3, BUCKET, inputs.input_key(item.id))  # in flight, as a member
        assert claim is not None and claim.key == key and claim.batch_id == batch
    assert [(i.content_type, i.custom_attributes) for i in items.values()] == [
        ("audio/ogg", "task=transcribe;filename=jfk.opus"),
        ("audio/mpeg", "language=ak;task=transcribe;filename=K_fi.mp3"),
        ("audio/mpeg", "language=tw;task=translate;filename=Ama.mp3"),
        ("audio/ogg", "task=transcribe;filename=sonnet.ogg"),
        ("audio/webm", "language=en;task=transcribe;filename=sonnet.webm"),
    ]
    assert batches.members(s3, BUCKET, batches.input_key(batch)) == list(items)
    coalesced = [line for line in emf_lines(capsys.readouterr().out) if "Coalesced" in line]
    assert sorted(line["key"] for line in coalesced) == sorted(SHORT)
    assert all(line["Submitted"] == [1] and line["batch_id"] == batch for line in coalesced)


def test_coalescing_off_sends_every_upload_alone(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.ENV_COALESCE_MAX_FILES, "1")
    ids = put(s3, SHORT)

    assert submit.handler(one_invocation(uploads_queue), CONTEXT) == {"batchItemFailures": []}
    assert [c["InferenceId"] for c in lambda_invocations.calls] == list(ids.values())
    assert batch_calls(lambda_invocations) == []


def test_groups_keep_to_the_limits_in_arrival_order(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.ENV_COALESCE_MAX_FILES, "2")
    ids = put(s3, SHORT)

    assert submit.handler(one_invocation(uploads_queue), CONTEXT) == {"batchItemFailures": []}
    first, second, last = lambda_invocations.calls  # 2 + 2 + a group of one, sent as any other
    assert [i.id for i in unpacked(s3, first)] == list(ids.values())[:2]
    assert [i.id for i in unpacked(s3, second)] == list(ids.values())[2:4]
    assert last["InferenceId"] == list(ids.values())[4] and last["ContentType"] == "audio/webm"


def test_a_second_delivery_of_the_same_events_submits_nothing(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations
) -> None:
    put(s3, SHORT)
    event = one_invocation(uploads_queue)
    assert submit.handler(event, CONTEXT) == {"batchItemFailures": []}
    assert len(lambda_invocations.calls) == 1

    assert submit.handler(event, CONTEXT) == {"batchItemFailures": []}  # every upload is in flight
    assert len(lambda_invocations.calls) == 1


def test_an_upload_replaced_after_its_claim_is_left_out(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations
) -> None:
    """Without versions (with them, the version submit checked stays readable and is sent; its
    result then loses to the newer upload's, as a single upload's would)."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    ids = put(s3, dict(list(SHORT.items())[:3]))
    replaced = "audio/notes/Kɔfi.mp3"

    def overwrite_first(params: dict[str, Any], **_: Any) -> None:
        """Submit reads the members after every record was claimed: overwrite one just then."""
        if params["Key"] == replaced and "IfMatch" in params and not replaced_already:
            replaced_already.append(True)
            s3.put_object(Bucket=BUCKET, Key=replaced, Body=(DATA / "jfk.mp3").read_bytes())

    replaced_already: list[bool] = []
    aws.s3_client().meta.events.register("provide-client-params.s3.GetObject", overwrite_first)

    assert submit.handler(one_invocation(uploads_queue), CONTEXT) == {"batchItemFailures": []}
    (call,) = lambda_invocations.calls
    assert [i.id for i in unpacked(s3, call)] == [ids[k] for k in ids if k != replaced]
    assert not exists(s3, inputs.input_key(ids[replaced]))  # released: the newer upload's event sends it
    assert not exists(s3, keys.failed_key("notes/Kɔfi.mp3"))


def _throttle_batches(params: dict[str, Any], **_: Any) -> None:
    if params["ContentType"] == BATCH_CONTENT_TYPE:
        raise ClientError(
            {
                "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "InvokeEndpointAsync",
        )


def test_a_request_that_cannot_be_sent_is_retried_upload_by_upload(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations
) -> None:
    aws.sagemaker_runtime_client().meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", _throttle_batches
    )
    ids = put(s3, SHORT)
    event = one_invocation(uploads_queue)
    every_record = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    assert submit.handler(event, CONTEXT) == every_record
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=names.ASYNC_INPUT_PREFIX)
    assert listed["KeyCount"] == 0  # claims released (a retry claims again), the request's input gone
    assert not any(exists(s3, keys.failed_key(keys.audio_path(k) or "")) for k in ids)

    last = sqs_event(
        *(json.loads(r["body"]) for r in event["Records"]), receive_count=names.MAX_RECEIVE_COUNT
    )
    assert submit.handler(last, CONTEXT) == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in last["Records"]]
    }
    for key in ids:
        path = keys.audio_path(key) or ""
        record = json.loads(s3.get_object(Bucket=BUCKET, Key=keys.failed_key(path))["Body"].read())
        assert record["reason"].startswith(
            f"could not submit after {names.MAX_RECEIVE_COUNT} attempts: endpoint busy or unavailable"
        )
        assert record["source"]["key"] == key and record["stage"] == "submit"


def test_a_request_the_endpoint_refuses_as_a_whole_is_sent_upload_by_upload(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations
) -> None:
    def refuse_batches(params: dict[str, Any], **_: Any) -> None:
        if params["ContentType"] == BATCH_CONTENT_TYPE:
            raise ClientError(
                {
                    "Error": {"Code": "ValidationError", "Message": "unsupported content type"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "InvokeEndpointAsync",
            )

    aws.sagemaker_runtime_client().meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpointAsync", refuse_batches
    )
    ids = put(s3, dict(list(SHORT.items())[:3]))

    assert submit.handler(one_invocation(uploads_queue), CONTEXT) == {"batchItemFailures": []}
    refused, *alone = lambda_invocations.calls
    assert refused["ContentType"] == BATCH_CONTENT_TYPE
    assert [c["InferenceId"] for c in alone] == list(ids.values())
    assert [c["CustomAttributes"] for c in alone] == [
        "task=transcribe;filename=jfk.opus",
        "language=ak;task=transcribe;filename=K_fi.mp3",
        "language=tw;task=translate;filename=Ama.mp3",
    ]
    for call in alone:  # each reads its own pinned copy, which no longer names a batch
        claim = inputs.read(s3, BUCKET, inputs.input_key(call["InferenceId"]))
        assert claim is not None and claim.batch_id is None
    assert not exists(s3, keys.parse_s3_uri(refused["InputLocation"])[1])


def test_an_upload_marked_alone_is_never_coalesced(
    s3: Any, uploads_queue: tuple[Any, str], lambda_invocations: Invocations
) -> None:
    ids = put(
        s3,
        {
            "audio/a.opus": ("jfk.opus", {}),
            "audio/b.opus": ("jfk.opus", {names.META_ALONE: "2026-01-25T22:46:00.000Z"}),
            "audio/c.ogg": ("sonnet1.ogg", {}),
        },
    )
    assert submit.handler(one_invocation(uploads_queue), CONTEXT) == {"batchItemFailures": []}
    alone, together = lambda_invocations.calls
    assert alone["InferenceId"] == ids["audio/b.opus"]
    assert [i.id for i in unpacked(s3, together)] == [ids["audio/a.opus"], ids["audio/c.ogg"]]
