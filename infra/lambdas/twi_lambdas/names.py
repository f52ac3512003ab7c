"""The one source of names shared by the CDK stack, the Lambda functions, the offline
local stack and the tests, so that none of them can drift from the others.
"""

from __future__ import annotations

from typing import Final

# --- S3 layout (one bucket) -------------------------------------------------------------
AUDIO_PREFIX: Final = "audio/"  # users upload here; the only prefix that triggers work
TRANSCRIPTS_PREFIX: Final = "transcripts/"  # complete Lambda: <path>.json (+ .srt/.vtt)
FAILED_PREFIX: Final = "failed/"  # submit/complete Lambda: <path>.json with a reason
ASYNC_OUTPUT_PREFIX: Final = "async-output/"  # SageMaker: raw <uuid>.out
ASYNC_FAILURE_PREFIX: Final = "async-failures/"  # SageMaker: raw <uuid>-error.out
ASYNC_INPUT_PREFIX: Final = "async-input/"  # direct invoke_endpoint_async inputs (client); never triggers
# submit's copy of the exact upload version the endpoint reads, named by its inference id;
# it also marks the request as in flight until complete has recorded the outcome
UPLOAD_INPUT_PREFIX: Final = f"{ASYNC_INPUT_PREFIX}uploads/"
# submit's coalesced request (twi_contract's batch body) of several short uploads, named by
# its batch id; complete deletes it once every member's outcome is recorded
BATCH_INPUT_PREFIX: Final = f"{ASYNC_INPUT_PREFIX}batches/"

# --- Environment variables read by the Lambda functions ----------------------------------
ENV_ENDPOINT_NAME: Final = "ENDPOINT_NAME"
ENV_BUCKET_NAME: Final = "BUCKET_NAME"
ENV_DEFAULT_TASK: Final = "DEFAULT_TASK"
ENV_MAX_INPUT_BYTES: Final = "MAX_INPUT_BYTES"
ENV_INVOCATION_TIMEOUT_SECONDS: Final = "INVOCATION_TIMEOUT_SECONDS"
# Read by Powertools itself (Logger, Tracer, Metrics) as well as by Settings.
ENV_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"

# --- Logical names of the resources (CDK construct ids and local-stack names) ------------
SUBMIT_QUEUE: Final = "submit-queue"
SUBMIT_DLQ: Final = "submit-dlq"
RESULT_QUEUE: Final = "result-queue"
RESULT_DLQ: Final = "result-dlq"
SUCCESS_TOPIC: Final = "success-topic"
ERROR_TOPIC: Final = "error-topic"
MAX_RECEIVE_COUNT: Final = 5  # receives before a message moves to its DLQ

SERVICE_NAME: Final = "twi-asr"  # the "service" key of every log line and trace

# --- CloudWatch metrics the functions emit (EMF; namespace METRICS_NAMESPACE, dimension
# EndpointName), name -> unit. The dashboard and alarms (twi_infra.monitoring) read these names.
METRICS_NAMESPACE: Final = "TwiAsr"
METRIC_RTF: Final = "RTF"
METRIC_AUDIO_SECONDS: Final = "AudioSeconds"
METRIC_PROCESSING_SECONDS: Final = "ProcessingSeconds"
METRIC_END_TO_END_SECONDS: Final = "EndToEndSeconds"
METRIC_QUEUE_SECONDS: Final = "QueueSeconds"
METRIC_TRANSCRIPTS: Final = "Transcripts"
METRIC_FAILURES: Final = "Failures"
METRIC_SUBMITTED: Final = "Submitted"
METRIC_REJECTED: Final = "Rejected"
METRIC_KEY_TOO_LONG: Final = "KeyTooLong"  # uploads refused at submit: no result key would fit in S3
METRIC_UNACCOUNTED: Final = "Unaccounted"  # reconcile: uploads past the grace with no outcome
METRIC_RESUBMITTED: Final = "Resubmitted"  # reconcile: of those, announced again
METRIC_COALESCED: Final = "Coalesced"  # submit: uploads sent in coalesced requests (of Submitted)
METRIC_SPEECH_SECONDS: Final = "SpeechSeconds"  # complete: speech the endpoint's VAD found
# complete: of it, the stretches of a second or more no segment holds (metadata.uncovered_speech)
METRIC_UNCOVERED_SPEECH_SECONDS: Final = "UncoveredSpeechSeconds"
METRIC_UNITS: Final = {
    METRIC_RTF: "None",
    METRIC_AUDIO_SECONDS: "Seconds",
    METRIC_PROCESSING_SECONDS: "Seconds",
    METRIC_END_TO_END_SECONDS: "Seconds",
    METRIC_QUEUE_SECONDS: "Seconds",
    METRIC_TRANSCRIPTS: "Count",
    METRIC_FAILURES: "Count",
    METRIC_SUBMITTED: "Count",
    METRIC_REJECTED: "Count",
    METRIC_KEY_TOO_LONG: "Count",
    METRIC_UNACCOUNTED: "Count",
    METRIC_RESUBMITTED: "Count",
    METRIC_COALESCED: "Count",
    METRIC_SPEECH_SECONDS: "Seconds",
    METRIC_UNCOVERED_SPEECH_SECONDS: "Seconds",
}

# --- SageMaker async limits (InvokeEndpointAsync) -----------------------------------------
MAX_ASYNC_INPUT_BYTES: Final = 1024**3  # 1 GB payload limit
MAX_INVOCATION_TIMEOUT_SECONDS: Final = 3600
MIN_REQUEST_TTL_SECONDS: Final = 60  # RequestTTLSeconds: how long a request may wait in the queue
MAX_REQUEST_TTL_SECONDS: Final = 21600  # 6 hours, also the default

# --- Upload metadata ----------------------------------------------------------------------
# Users may set `x-amz-meta-language` / `x-amz-meta-task` / `x-amz-meta-words` on an upload;
# boto3 shows them without the prefix in HeadObject's Metadata. Submit forwards them (or the
# env defaults) in CustomAttributes, whose keys and format are the endpoint contract's
# (twi_contract).
META_LANGUAGE: Final = "language"
META_TASK: Final = "task"
META_WORDS: Final = "words"  # true: each segment's words with their times, subtitles timed by them

# --- Result files written by the complete Lambda -----------------------------------------
RESULT_SUFFIX: Final = ".json"
SRT_SUFFIX: Final = ".srt"
VTT_SUFFIX: Final = ".vtt"
# User metadata on every transcripts/ and failed/ object: which upload produced it, so a
# duplicate or an older upload's result never replaces a newer one (see twi_lambdas.store).
META_REVISION_ORDER: Final = "revision-order"  # the upload's S3 event sequencer, padded
META_REVISION_ID: Final = "revision-id"
# User metadata on the pinned input copy (UPLOAD_INPUT_PREFIX): the upload it was copied from.
META_SOURCE_KEY: Final = "source-key"  # base64url of the UTF-8 key (user metadata is ASCII)
META_SOURCE_VERSION: Final = "source-version"
META_UPLOAD_ORDER: Final = "upload-order"
# User metadata on a batch member's claim: the coalesced request it was sent in, so that
# only that request's notification records or re-sends it (twi_lambdas.fanout).
META_BATCH_ID: Final = "batch-id"
# User metadata on the batch input (BATCH_INPUT_PREFIX): its members' inference ids, space-
# separated, what complete reads when the request failed as a whole and left no answer.
META_BATCH_MEMBERS: Final = "batch-members"
# User metadata added to an upload announced again (twi_lambdas.announce): by the reconciler,
# when it had no outcome; by complete, when its coalesced request failed as a whole, which
# also makes submit send it on its own, never coalesced again.
META_RECONCILED: Final = "twi-reconciled-at"
META_ALONE: Final = "twi-alone"

# --- Coalescing (twi_lambdas.batches): short uploads that arrive together, one request -------
ENV_COALESCE_MAX_FILES: Final = "COALESCE_MAX_FILES"  # 1: every upload its own request
ENV_COALESCE_MAX_FILE_BYTES: Final = "COALESCE_MAX_FILE_BYTES"  # larger uploads always go alone
ENV_COALESCE_MAX_BYTES: Final = "COALESCE_MAX_BYTES"  # of one coalesced request
DEFAULT_COALESCE_MAX_FILES: Final = 10  # an SQS batch of submit's holds at most 10 S3 events
DEFAULT_COALESCE_MAX_FILE_BYTES: Final = 2 * 2**20  # about two minutes of MP3 at 128 kbit/s
DEFAULT_COALESCE_MAX_BYTES: Final = 32 * 2**20
# Bounds: the members' ids (at most 64 characters and a space each) must fit in the batch
# input's user metadata (2 KB), and submit holds a group in memory (several copies while packing).
MAX_COALESCE_FILES: Final = 30
MAX_COALESCE_BYTES: Final = 64 * 2**20

ENV_REQUEST_TTL_SECONDS: Final = "REQUEST_TTL_SECONDS"  # optional: queue-age limit per request
ENV_RECONCILE_GRACE_SECONDS: Final = "RECONCILE_GRACE_SECONDS"  # an upload's time to get an outcome
ENV_RECONCILE_LOOKBACK_SECONDS: Final = "RECONCILE_LOOKBACK_SECONDS"  # how far back each run looks
