"""The InvokeEndpointAsync wire protocol, as botocore's ``sagemaker-runtime`` model defines it.

``POST /endpoints/{EndpointName}/async-invocations`` (rest-json), every parameter in an
``X-Amzn-SageMaker-*`` header, answered ``202`` with ``{"InferenceId": ...}`` and the output
and failure locations in headers. Errors are ``ValidationError`` (400), ``InternalFailure``
(500) or ``ServiceUnavailable`` (503) with a ``Message``, which botocore raises as
``ClientError`` with that code. Parsing is a pure function so it is tested without a socket.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from twi_contract import CUSTOM_ATTRIBUTES_HEADER, MAX_CUSTOM_ATTRIBUTES_CHARS
from twi_lambdas import names

ASYNC_PATH = re.compile(r"^/endpoints/(?P<name>[^/?]+)/async-invocations/?(?:\?.*)?$")
SYNC_PATH = re.compile(r"^/endpoints/(?P<name>[^/?]+)/invocations(?:-response-stream)?/?(?:\?.*)?$")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INFERENCE_ID = re.compile(r"^\S[\x20-\x7e]{0,63}$")
INPUT_LOCATION = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
PATH_EXTENSION = re.compile(r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]{1,512}$")
FILENAME = re.compile(r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_.]{0,31}$")

H_CONTENT_TYPE = "X-Amzn-SageMaker-Content-Type"
H_ACCEPT = "X-Amzn-SageMaker-Accept"
H_CUSTOM_ATTRIBUTES = CUSTOM_ATTRIBUTES_HEADER  # SageMaker hands it to the container as it came
H_INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
H_INPUT_LOCATION = "X-Amzn-SageMaker-InputLocation"
H_OUTPUT_PATH_EXTENSION = "X-Amzn-SageMaker-S3OutputPathExtension"
H_FILENAME = "X-Amzn-SageMaker-Filename"
H_REQUEST_TTL = "X-Amzn-SageMaker-RequestTTLSeconds"
H_INVOCATION_TIMEOUT = "X-Amzn-SageMaker-InvocationTimeoutSeconds"
H_OUTPUT_LOCATION = "X-Amzn-SageMaker-OutputLocation"
H_FAILURE_LOCATION = "X-Amzn-SageMaker-FailureLocation"

DEFAULT_CONTENT_TYPE = "application/octet-stream"  # what SageMaker assumes when none is sent
DEFAULT_ACCEPT = "application/json"
DEFAULT_REQUEST_TTL_S = names.MAX_REQUEST_TTL_SECONDS  # SageMaker's default is its maximum
MIN_REQUEST_TTL_S = names.MIN_REQUEST_TTL_SECONDS


class WireError(Exception):
    """An error response: the botocore error code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def validation_error(message: str) -> WireError:
    return WireError("ValidationError", 400, message)


@dataclass(frozen=True)
class AsyncInvocation:
    """One accepted request, as the endpoint's internal queue holds it."""

    endpoint_name: str
    inference_id: str
    input_location: str
    input_bucket: str
    input_key: str
    content_type: str
    accept: str
    custom_attributes: str
    request_ttl_s: int
    invocation_timeout_s: int
    output_location: str
    failure_location: str
    request_id: str
    received_at: datetime


def parse_async_invocation(
    path: str,
    header: Callable[[str], str | None],
    *,
    endpoint_name: str,
    account_id: str,
    output_path: str,
    failure_path: str,
    default_invocation_timeout_s: int,
) -> AsyncInvocation:
    """Validate one request like SageMaker does and decide where its result will land.

    ``header`` looks a header up case-insensitively. ``output_path``/``failure_path`` are
    the endpoint config's ``S3OutputPath``/``S3FailurePath`` (``s3://bucket/prefix/``).
    """
    if SYNC_PATH.match(path):
        raise validation_error(
            "InvokeEndpoint is not supported on an asynchronous endpoint: use InvokeEndpointAsync"
        )
    match = ASYNC_PATH.match(path)
    if match is None:
        raise WireError("UnknownOperationException", 404, f"no SageMaker Runtime operation at {path}")
    name = unquote(match["name"])
    if not ENDPOINT_NAME.match(name) or name != endpoint_name:
        raise validation_error(f"Endpoint {name} of account {account_id} not found.")

    input_location = header(H_INPUT_LOCATION) or ""
    located = INPUT_LOCATION.match(input_location)
    if located is None:
        raise validation_error(
            f"1 validation error detected: Value '{input_location}' at 'inputLocation' failed to satisfy "
            "constraint: Member must be an S3 URI s3://<bucket>/<key> (the local runtime reads S3 URIs only)"
        )
    custom_attributes = header(H_CUSTOM_ATTRIBUTES) or ""
    if len(custom_attributes) > MAX_CUSTOM_ATTRIBUTES_CHARS or not custom_attributes.isascii():
        raise validation_error(
            "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: "
            f"Member must have at most {MAX_CUSTOM_ATTRIBUTES_CHARS} ASCII characters"
        )
    inference_id = header(H_INFERENCE_ID) or str(uuid.uuid4())
    if not INFERENCE_ID.match(inference_id):
        raise validation_error(
            f"1 validation error detected: Value '{inference_id}' at 'inferenceId' failed to satisfy "
            "constraint: Member must be 1-64 printable ASCII characters, not starting with a space"
        )
    ttl = _int_header(header, H_REQUEST_TTL, "requestTTLSeconds", MIN_REQUEST_TTL_S, DEFAULT_REQUEST_TTL_S)
    timeout = _int_header(
        header, H_INVOCATION_TIMEOUT, "invocationTimeoutSeconds", 1, names.MAX_INVOCATION_TIMEOUT_SECONDS
    )
    extension = header(H_OUTPUT_PATH_EXTENSION)
    if extension is not None and not PATH_EXTENSION.match(extension):
        raise validation_error(
            f"Value '{extension}' at 's3OutputPathExtension' is not a valid path extension"
        )
    filename = header(H_FILENAME)
    if filename is not None and not FILENAME.match(filename):
        raise validation_error(f"Value '{filename}' at 'filename' is not a valid file name")

    object_name = filename or str(uuid.uuid4())
    subfolder = f"{extension.strip('/')}/" if extension else ""
    return AsyncInvocation(
        endpoint_name=name,
        inference_id=inference_id,
        input_location=input_location,
        input_bucket=located["bucket"],
        input_key=located["key"],
        content_type=header(H_CONTENT_TYPE) or DEFAULT_CONTENT_TYPE,
        accept=header(H_ACCEPT) or DEFAULT_ACCEPT,
        custom_attributes=custom_attributes,
        request_ttl_s=ttl if ttl is not None else DEFAULT_REQUEST_TTL_S,
        invocation_timeout_s=timeout if timeout is not None else default_invocation_timeout_s,
        output_location=f"{output_path}{subfolder}{object_name}.out",
        failure_location=f"{failure_path}{subfolder}{object_name}-error.out",
        request_id=str(uuid.uuid4()),
        received_at=datetime.now(UTC),
    )


def _int_header(
    header: Callable[[str], str | None], name: str, member: str, low: int, high: int
) -> int | None:
    raw = header(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"Value '{raw}' at '{member}' is not an integer") from None
    if not low <= value <= high:
        raise validation_error(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value between {low} and {high}"
        )
    return value


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    located = INPUT_LOCATION.match(uri)
    if located is None:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return located["bucket"], located["key"]


def iso_time(moment: datetime) -> str:
    """SageMaker's notification time format: ``2022-01-25T22:46:00.608Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
