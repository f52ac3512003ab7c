"""A small client for a deployed (or local) stack: upload and wait, invoke directly, fetch results.

The same code talks to AWS and to the offline local stack; only the endpoint URLs differ
(boto3 honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``).

Two ways in, as users reach the product:

* :meth:`TwiAsrClient.submit` drops files under ``audio/`` and waits for
  ``transcripts/<path>.json`` (or ``failed/<path>.json``): the S3-triggered flow.
* :meth:`TwiAsrClient.invoke` uploads one file and calls ``invoke_endpoint_async`` itself,
  then polls the ``OutputLocation`` / ``FailureLocation`` the endpoint answered with: the
  direct boto3 path, for notebooks, backends and batch scripts.
"""

from __future__ import annotations

import json
import mimetypes
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from twi_contract import ACCEPT_JSON, GENERIC_CONTENT_TYPE, ResultKeys, format_custom_attributes
from twi_lambdas import keys, names
from twi_lambdas.results import uncovered_speech

DEFAULT_TIMEOUT_S = 900.0  # an endpoint scaled to zero needs several minutes to start
FIRST_POLL_S = 0.5  # then 1.5x longer each time, up to max_poll_s: a deployed stack answers in
MAX_POLL_S = 10.0  # seconds to minutes (minutes when the endpoint starts from zero)
COLD_START_HINT_S = 30.0  # after this long without a result, say why it may take a while


class ClientFailure(RuntimeError):
    """A file the stack could not transcribe; the message is the stack's reason, in words."""


@dataclass(frozen=True)
class StackRef:
    """What a client needs to know of a stack: its bucket, and its endpoint for direct calls."""

    bucket: str
    endpoint_name: str | None = None
    region: str | None = None

    @classmethod
    def from_cloudformation(cls, stack_name: str, region: str | None = None) -> StackRef:
        """Read the names from the deployed CDK stack's outputs."""
        from twi_infra.output_keys import OutputKeys

        cfn = boto3.client("cloudformation", region_name=region)
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return cls(
            bucket=outputs[OutputKeys.BUCKET_NAME],
            endpoint_name=outputs.get(OutputKeys.ENDPOINT_NAME),
            region=region,
        )


@dataclass
class Result:
    """One file's outcome: the transcript document, or the failure document."""

    key: str  # the audio key under audio/
    document: dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    location: str = ""  # s3:// URI of the document

    @property
    def transcript(self) -> str:
        return str(self.document.get(ResultKeys.TRANSCRIPT, ""))

    @property
    def reason(self) -> str:
        return str(self.document.get("reason") or self.document.get("failureReason") or "")


def uncovered_note(name: str, document: Mapping[str, Any]) -> str | None:
    """One line for the user where a result left speech without text, else None: the
    transcript alone does not show what is missing, and in Twi a reader may not notice."""
    regions = uncovered_speech(document)
    if not regions:
        return None
    where = ", ".join(f"{start:.1f}-{end:.1f} s" for start, end in regions)
    return f"twi-asr: {name}: speech left without text at {where} (metadata.uncovered_speech): listen there"


def relative_path(audio_key: str) -> str:
    """``audio/a/b.m4a`` -> ``a/b.m4a``: the path shared by transcripts/ and failed/."""
    path = keys.audio_path(audio_key)
    if path is None:
        raise ValueError(f"not an audio key (must start with {names.AUDIO_PREFIX!r}): {audio_key!r}")
    return path


class TwiAsrClient:
    """Upload audio, wait for transcripts, invoke the endpoint, list and fetch results."""

    def __init__(
        self, stack: StackRef, session: boto3.Session | None = None, max_poll_s: float = MAX_POLL_S
    ) -> None:
        """``max_poll_s`` caps the wait between two looks for a result (the local stack, where a
        look is free and results come in seconds, looks every quarter second)."""
        self.stack = stack
        self._max_poll_s = max_poll_s
        session = session or boto3.Session(region_name=stack.region)
        self._s3 = session.client("s3")
        self._runtime = session.client("sagemaker-runtime")
        self._session = session

    # --- the S3-triggered flow -------------------------------------------------------------
    def upload(
        self,
        path: Path,
        key: str | None = None,
        language: str | None = None,
        task: str | None = None,
        words: bool = False,
    ) -> str:
        """Put ``path`` under ``audio/`` (its file name by default); language, task and
        ``words`` (word times asked) as metadata."""
        key = key or f"{names.AUDIO_PREFIX}{path.name}"
        relative_path(key)  # validates the prefix
        asked = {
            names.META_LANGUAGE: language,
            names.META_TASK: task,
            names.META_WORDS: "true" if words else None,
        }
        metadata = {k: v for k, v in asked.items() if v}
        extra: dict[str, Any] = {"Metadata": metadata}
        guessed = keys.content_type_for_key(key) or mimetypes.guess_type(path.name)[0]
        if guessed:
            extra["ContentType"] = guessed
        self._s3.upload_file(str(path), self.stack.bucket, key, ExtraArgs=extra)
        return key

    def wait_for_result(
        self,
        key: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        not_before: float | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> Result:
        """Poll for ``transcripts/<path>.json`` or ``failed/<path>.json`` with backoff.

        ``not_before`` (epoch seconds) ignores documents older than this upload, so a result
        left by an earlier upload of the same name is not mistaken for the new one.
        """
        path = relative_path(key)
        candidates = ((keys.transcript_key(path), False), (keys.failed_key(path), True))
        start = time.monotonic()
        delay = min(FIRST_POLL_S, self._max_poll_s)
        while True:
            for doc_key, failed in candidates:
                doc = self.get_json(doc_key, not_before)
                if doc is not None:
                    return Result(key, doc, failed, f"s3://{self.stack.bucket}/{doc_key}")
            waited = time.monotonic() - start
            if waited > timeout_s:
                raise TimeoutError(
                    f"no result for s3://{self.stack.bucket}/{key} after {timeout_s:.0f} s "
                    "(is the stack running? an endpoint scaled to zero takes minutes to start)"
                )
            if on_wait is not None:
                on_wait(waited)
            time.sleep(delay)
            delay = min(delay * 1.5, self._max_poll_s)

    def submit(
        self,
        paths: list[Path],
        wait: bool = True,
        language: str | None = None,
        task: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        workers: int = 4,
        on_done: Callable[[Result], None] | None = None,
        words: bool = False,
    ) -> list[Result]:
        """Upload many files in parallel; with ``wait``, return their results in input order."""

        def one(path: Path) -> Result:
            started = time.time()
            key = self.upload(path, language=language, task=task, words=words)
            result = self.wait_for_result(key, timeout_s, not_before=started - 1) if wait else Result(key)
            if on_done is not None:
                on_done(result)
            return result

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(paths)))) as pool:
            return list(pool.map(one, paths))

    # --- the direct boto3 path -------------------------------------------------------------
    def invoke(
        self,
        path: Path,
        endpoint_name: str | None = None,
        language: str | None = None,
        task: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_wait: Callable[[str], None] | None = None,
        words: bool = False,
    ) -> dict[str, Any]:
        """Upload ``path`` as an endpoint input, call ``invoke_endpoint_async``, wait, return JSON
        (with each segment's word times when ``words``).

        The input goes under ``async-input/`` (not ``audio/``) so that it does not also start
        the S3-triggered flow. Raises :class:`ClientFailure` with the endpoint's reason.
        """
        endpoint = endpoint_name or self.stack.endpoint_name
        if not endpoint:
            raise ValueError("no endpoint name: pass --endpoint or use a stack with an endpoint output")
        key = f"{names.ASYNC_INPUT_PREFIX}{uuid.uuid4().hex}/{path.name}"
        self._s3.upload_file(str(path), self.stack.bucket, key)
        params: dict[str, Any] = {
            "EndpointName": endpoint,
            "InputLocation": f"s3://{self.stack.bucket}/{key}",
            "ContentType": keys.content_type_for_key(path.name) or GENERIC_CONTENT_TYPE,
            "Accept": ACCEPT_JSON,
            "CustomAttributes": format_custom_attributes(
                language, task or "transcribe", path.name, words=words
            ),
        }
        response = self._runtime.invoke_endpoint_async(**params)
        output_uri = response["OutputLocation"]
        failure_uri = response.get("FailureLocation")
        start = time.monotonic()
        delay = min(FIRST_POLL_S, self._max_poll_s)
        hinted = False
        while True:
            body = self._read_uri(output_uri)
            if body is not None:
                return dict(json.loads(body))
            if failure_uri:
                failure = self._read_uri(failure_uri)
                if failure is not None:
                    raise ClientFailure(f"{path.name}: {failure.decode('utf-8', 'replace').strip()}")
            waited = time.monotonic() - start
            if waited > timeout_s:
                raise TimeoutError(f"no answer from endpoint {endpoint!r} after {timeout_s:.0f} s")
            if not hinted and waited > COLD_START_HINT_S and on_wait is not None:
                on_wait(self.warming_message(endpoint))
                hinted = True
            time.sleep(delay)
            delay = min(delay * 1.5, self._max_poll_s)

    def warming_message(self, endpoint: str) -> str:
        try:
            described = self._session.client("sagemaker").describe_endpoint(EndpointName=endpoint)
            count = sum(v.get("CurrentInstanceCount", 0) for v in described.get("ProductionVariants", []))
        except Exception:  # the control plane is optional here (e.g. the local stack)
            return f"still waiting for {endpoint!r}..."
        if count == 0:
            return (
                f"endpoint {endpoint!r} is scaled to zero and is starting an instance for this "
                "request: the first answer takes several minutes"
            )
        return f"endpoint {endpoint!r} has {count} instance(s) busy with earlier requests; still waiting..."

    # --- results ---------------------------------------------------------------------------
    def list_results(self, prefix: str = "") -> Iterator[tuple[str, bool]]:
        """Yield ``(key, failed)`` for every result document whose path starts with ``prefix``."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for root, failed in ((names.TRANSCRIPTS_PREFIX, False), (names.FAILED_PREFIX, True)):
            for page in paginator.paginate(Bucket=self.stack.bucket, Prefix=root + prefix):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith(".json"):
                        yield obj["Key"], failed

    def get_object(self, key: str) -> bytes:
        return bytes(self._s3.get_object(Bucket=self.stack.bucket, Key=key)["Body"].read())

    def get_json(self, key: str, not_before: float | None = None) -> dict[str, Any] | None:
        """The JSON document at ``key`` in the stack's bucket; None when there is none, or
        (with ``not_before``, epoch seconds) only an older one."""
        obj = self._get_or_none(self.stack.bucket, key)
        if obj is None or (not_before is not None and obj["LastModified"].timestamp() < not_before):
            return None
        return dict(json.loads(obj["Body"].read()))

    def _read_uri(self, uri: str) -> bytes | None:
        obj = self._get_or_none(*keys.parse_s3_uri(uri))
        return None if obj is None else bytes(obj["Body"].read())

    def _get_or_none(self, bucket: str, key: str) -> dict[str, Any] | None:
        """``GetObject``'s response, or None where there is no such object (yet)."""
        try:
            return dict(self._s3.get_object(Bucket=bucket, Key=key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
