"""The stack's configuration: CDK context parsed once into a frozen, validated dataclass.

Values come from ``cdk.json`` (typed JSON) or ``cdk synth -c key=value`` (always strings), so
every field accepts both spellings. A bad value fails synthesis with a message naming the
context key and what would be accepted, before any resource is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from twi_contract import LANGUAGE_EXPECTED, TASKS, parse_language
from twi_endpoint.settings import DEFAULT_BEAM_SIZE, MAX_BEAM_SIZE
from twi_lambdas import names
from twi_lambdas.settings import coalescing_errors

from twi_infra.runtime_values import DAY_S, DEFAULT_CONCURRENCY, DLQ_RETENTION_S, Coalescing

# --- Context keys (cdk.json "context" or `-c key=value`) ----------------------------------
CTX_REGION: Final = "region"
CTX_ACCOUNT: Final = "account"
CTX_ENDPOINT_NAME: Final = "endpoint_name"
CTX_INSTANCE_TYPE: Final = "instance_type"
CTX_MIN_INSTANCES: Final = "min_instances"
CTX_MAX_INSTANCES: Final = "max_instances"
CTX_MODEL_DATA: Final = "model_data"
CTX_HF_MODEL_ID: Final = "hf_model_id"
CTX_HF_MODEL_REVISION: Final = "hf_model_revision"
CTX_NETWORK_ISOLATION: Final = "network_isolation"
CTX_AUTOSCALING: Final = "autoscaling"
CTX_LANGUAGE: Final = "language"
CTX_TASK: Final = "task"
CTX_BEAM_SIZE: Final = "beam_size"
CTX_MAX_CONCURRENT: Final = "max_concurrent_invocations_per_instance"
CTX_BACKLOG_TARGET: Final = "backlog_per_instance_target"
CTX_ALARM_EMAIL: Final = "alarm_email"
CTX_RTF_ALARM: Final = "rtf_p90_alarm_threshold"
CTX_OLDEST_REQUEST_ALARM: Final = "oldest_request_alarm_seconds"
CTX_OUTPUT_EXPIRY_DAYS: Final = "async_output_expiry_days"
# How submit coalesces short uploads that arrive together; the same names as its settings.
CTX_COALESCE_MAX_FILES: Final = "coalesce_max_files"
CTX_COALESCE_MAX_FILE_BYTES: Final = "coalesce_max_file_bytes"
CTX_COALESCE_MAX_BYTES: Final = "coalesce_max_bytes"

# Environment the CDK CLI sets from the caller's profile; synthesis needs neither.
ENV_CDK_REGION: Final = "CDK_DEFAULT_REGION"
ENV_CDK_ACCOUNT: Final = "CDK_DEFAULT_ACCOUNT"

DEFAULT_REGION: Final = "us-east-1"  # only for synthesis without a profile; deploy uses yours
DEFAULT_INSTANCE_TYPE: Final = "ml.g4dn.xlarge"  # T4 16 GB: Whisper large-v3 fits in FP16
DEFAULT_HF_MODEL_ID: Final = "openai/whisper-base"  # used when neither model source is set
MAX_ENDPOINT_INSTANCES: Final = 100  # a guard against typos, far below account quotas
MIN_OUTPUT_EXPIRY_DAYS: Final = DLQ_RETENTION_S // DAY_S

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_INSTANCE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_ENDPOINT_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's own rule
_S3_URI_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+\.tar\.gz$")
_HF_ID_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
_HF_REVISION_RE = re.compile(r"^[\w.\-/]{1,100}$")  # a commit hash, tag or branch
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A context value the stack cannot use; the message names the key and the fix."""


@dataclass(frozen=True)
class StackSettings:
    region: str = DEFAULT_REGION
    account: str | None = None  # None: an environment-agnostic template
    endpoint_name: str = "twi-asr"
    instance_type: str = DEFAULT_INSTANCE_TYPE
    min_instances: int = 0  # 0: scale to zero when idle (cold start on the next upload)
    max_instances: int = 2
    # Exactly one model source: an S3 URI of a model.tar.gz, a local model.tar.gz or model
    # directory (uploaded as a CDK asset), or a Hugging Face model id the container downloads.
    model_data: str | None = None
    hf_model_id: str | None = None
    hf_model_revision: str | None = None  # pins the Hub download (a commit hash is exact)
    # None: isolated exactly when the weights come in the archive (model_data); a Hub model
    # needs the network to download, so it cannot be isolated.
    network_isolation: bool | None = None
    autoscaling: bool = True  # false: no scaling target (e.g. while changing instance_type)
    language: str | None = None  # the endpoint's default (TWI_ASR_LANGUAGE), e.g. tw; None: detect
    task: str = "transcribe"
    beam_size: int = DEFAULT_BEAM_SIZE  # the endpoint's decoder (TWI_ASR_BEAM_SIZE): 1 = greedy
    max_concurrent_invocations_per_instance: int = DEFAULT_CONCURRENCY  # = model-server workers
    backlog_per_instance_target: float = 2.0  # queued requests per instance before scaling out
    alarm_email: str | None = None
    rtf_p90_alarm_threshold: float = 0.5  # processing / audio seconds; above: overloaded
    oldest_request_alarm_seconds: int = 1800
    # Raw results must outlive the result DLQ's messages: a redrive on day 13 still finds them.
    async_output_expiry_days: int = 14
    coalesce_max_files: int = names.DEFAULT_COALESCE_MAX_FILES  # 1: every upload its own request
    coalesce_max_file_bytes: int = names.DEFAULT_COALESCE_MAX_FILE_BYTES  # larger ones go alone
    coalesce_max_bytes: int = names.DEFAULT_COALESCE_MAX_BYTES  # of one coalesced request

    def __post_init__(self) -> None:
        self._check(_REGION_RE.match(self.region), CTX_REGION, "an AWS region such as us-east-1")
        if self.account is not None:
            self._check(_ACCOUNT_RE.match(self.account), CTX_ACCOUNT, "a 12-digit account id")
        self._check(
            _ENDPOINT_NAME_RE.match(self.endpoint_name),
            CTX_ENDPOINT_NAME,
            "1-63 letters, digits and hyphens, starting and ending with a letter or digit",
        )
        self._check(
            _INSTANCE_RE.match(self.instance_type),
            CTX_INSTANCE_TYPE,
            "a SageMaker instance type such as ml.g4dn.xlarge",
        )
        self._check(self.min_instances >= 0, CTX_MIN_INSTANCES, "0 or more")
        self._check(
            1 <= self.max_instances <= MAX_ENDPOINT_INSTANCES,
            CTX_MAX_INSTANCES,
            f"between 1 and {MAX_ENDPOINT_INSTANCES}",
        )
        self._check(
            self.min_instances <= self.max_instances,
            CTX_MIN_INSTANCES,
            f"at most {CTX_MAX_INSTANCES} ({self.max_instances})",
        )
        if self.model_data is not None and self.hf_model_id is not None:
            raise ConfigError(
                f"set either {CTX_MODEL_DATA} ({self.model_data!r}) or {CTX_HF_MODEL_ID} "
                f"({self.hf_model_id!r}), not both"
            )
        if self.model_data is not None and self.model_data.startswith("s3://"):
            self._check(
                _S3_URI_RE.match(self.model_data),
                CTX_MODEL_DATA,
                "s3://bucket/key.tar.gz (a model.tar.gz built by `make package`)",
            )
        elif self.model_data is not None:
            path = Path(self.model_data)
            self._check(
                path.is_dir() or (path.is_file() and path.name.endswith(".tar.gz")),
                CTX_MODEL_DATA,
                "an existing model directory, a model.tar.gz file, or an s3:// URI",
            )
        if self.hf_model_id is not None:
            self._check(
                _HF_ID_RE.match(self.hf_model_id),
                CTX_HF_MODEL_ID,
                "a Hugging Face model id such as openai/whisper-large-v3",
            )
        if self.hf_model_revision is not None:
            self._check(
                self.model_source == "hub",
                CTX_HF_MODEL_REVISION,
                f"only with a Hub model ({CTX_HF_MODEL_ID})",
            )
            self._check(
                _HF_REVISION_RE.match(self.hf_model_revision), CTX_HF_MODEL_REVISION, "a commit hash or tag"
            )
        if self.network_isolation and self.model_source == "hub":
            raise _invalid(
                CTX_NETWORK_ISOLATION,
                self.network_isolation,
                f"false with a Hugging Face model (the container downloads it); set {CTX_MODEL_DATA} "
                "to a model built by `make package` to run isolated",
            )
        if self.language is not None:
            self._check(_parses(self.language), CTX_LANGUAGE, LANGUAGE_EXPECTED)
        self._check(self.task in TASKS, CTX_TASK, f"one of {', '.join(TASKS)}")
        self._check(1 <= self.beam_size <= MAX_BEAM_SIZE, CTX_BEAM_SIZE, f"between 1 and {MAX_BEAM_SIZE}")
        self._check(
            1 <= self.max_concurrent_invocations_per_instance <= 1000,
            CTX_MAX_CONCURRENT,
            "between 1 and 1000",
        )
        self._check(self.backlog_per_instance_target > 0, CTX_BACKLOG_TARGET, "> 0")
        if self.alarm_email is not None:
            self._check(_EMAIL_RE.match(self.alarm_email), CTX_ALARM_EMAIL, "an e-mail address")
        self._check(self.rtf_p90_alarm_threshold > 0, CTX_RTF_ALARM, "> 0")
        self._check(self.oldest_request_alarm_seconds >= 60, CTX_OLDEST_REQUEST_ALARM, "at least 60 seconds")
        self._check(
            MIN_OUTPUT_EXPIRY_DAYS <= self.async_output_expiry_days <= 3650,
            CTX_OUTPUT_EXPIRY_DAYS,
            f"between {MIN_OUTPUT_EXPIRY_DAYS} (the result DLQ's retention: a redriven notification "
            "must still find its result) and 3650 days",
        )
        wrong = coalescing_errors(
            self.coalesce_max_files, self.coalesce_max_file_bytes, self.coalesce_max_bytes
        )
        for key in (CTX_COALESCE_MAX_FILES, CTX_COALESCE_MAX_BYTES, CTX_COALESCE_MAX_FILE_BYTES):
            self._check(key not in wrong, key, wrong.get(key, ""))

    def _check(self, ok: object, key: str, expected: str) -> None:
        """Fail unless ``ok``, naming ``key`` and its value (each context key names its field)."""
        if not ok:
            raise _invalid(key, getattr(self, key), expected)

    @property
    def coalescing(self) -> Coalescing:
        return Coalescing(self.coalesce_max_files, self.coalesce_max_file_bytes, self.coalesce_max_bytes)

    @property
    def model_source(self) -> str:
        """``"s3"``, ``"local"`` or ``"hub"``: where the endpoint gets its weights."""
        if self.model_data is None:
            return "hub"
        return "s3" if self.model_data.startswith("s3://") else "local"

    @property
    def effective_network_isolation(self) -> bool:
        return self.model_source != "hub" if self.network_isolation is None else self.network_isolation

    @property
    def effective_hf_model_id(self) -> str | None:
        """The Hub id the container downloads; the default when no model source is set."""
        if self.model_data is not None:
            return None
        return self.hf_model_id or DEFAULT_HF_MODEL_ID

    @classmethod
    def from_context(cls, get: Callable[[str], Any], env: Mapping[str, str] | None = None) -> StackSettings:
        """Parse ``get(key)`` (``app.node.try_get_context``); ``env`` supplies the CDK region/account."""
        env = env or {}
        d = cls()
        return cls(
            region=_str(get, CTX_REGION) or env.get(ENV_CDK_REGION) or DEFAULT_REGION,
            account=_str(get, CTX_ACCOUNT) or env.get(ENV_CDK_ACCOUNT) or None,
            endpoint_name=_str(get, CTX_ENDPOINT_NAME) or d.endpoint_name,
            instance_type=_str(get, CTX_INSTANCE_TYPE) or d.instance_type,
            min_instances=_int(get, CTX_MIN_INSTANCES, d.min_instances),
            max_instances=_int(get, CTX_MAX_INSTANCES, d.max_instances),
            model_data=_str(get, CTX_MODEL_DATA),
            hf_model_id=_str(get, CTX_HF_MODEL_ID),
            hf_model_revision=_str(get, CTX_HF_MODEL_REVISION),
            network_isolation=_bool(get, CTX_NETWORK_ISOLATION, None),
            autoscaling=bool(_bool(get, CTX_AUTOSCALING, d.autoscaling)),
            language=_language(_str(get, CTX_LANGUAGE)),
            task=(_str(get, CTX_TASK) or d.task).lower(),
            beam_size=_int(get, CTX_BEAM_SIZE, d.beam_size),
            max_concurrent_invocations_per_instance=_int(
                get, CTX_MAX_CONCURRENT, d.max_concurrent_invocations_per_instance
            ),
            backlog_per_instance_target=_float(get, CTX_BACKLOG_TARGET, d.backlog_per_instance_target),
            alarm_email=_str(get, CTX_ALARM_EMAIL),
            rtf_p90_alarm_threshold=_float(get, CTX_RTF_ALARM, d.rtf_p90_alarm_threshold),
            oldest_request_alarm_seconds=_int(get, CTX_OLDEST_REQUEST_ALARM, d.oldest_request_alarm_seconds),
            async_output_expiry_days=_int(get, CTX_OUTPUT_EXPIRY_DAYS, d.async_output_expiry_days),
            coalesce_max_files=_int(get, CTX_COALESCE_MAX_FILES, d.coalesce_max_files),
            coalesce_max_file_bytes=_int(get, CTX_COALESCE_MAX_FILE_BYTES, d.coalesce_max_file_bytes),
            coalesce_max_bytes=_int(get, CTX_COALESCE_MAX_BYTES, d.coalesce_max_bytes),
        )


def _invalid(key: str, value: object, expected: str) -> ConfigError:
    return ConfigError(f"context {key}={value!r} is invalid: expected {expected} (set it with -c {key}=...)")


def _str(get: Callable[[str], Any], key: str) -> str | None:
    raw = get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _invalid(key, raw, "a string")
    return raw.strip() or None


def _language(value: str | None) -> str | None:
    """None for a spelling of "detect"; otherwise the value as written, for the endpoint to
    parse (TWI_ASR_LANGUAGE). One the contract refuses is kept for ``__post_init__`` to name."""
    try:
        return None if parse_language(value) is None else value
    except ValueError:
        return value


def _parses(value: str | None) -> bool:
    """Whether ``twi_contract.parse_language`` accepts ``value``, as submit and the endpoint do."""
    try:
        parse_language(value)
    except ValueError:
        return False
    return True


def _bool(get: Callable[[str], Any], key: str, default: bool | None) -> bool | None:
    raw = get(key)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _invalid(key, raw, "true or false")


def _int(get: Callable[[str], Any], key: str, default: int) -> int:
    raw = get(key)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _invalid(key, raw, "an integer")
    try:
        return int(raw)
    except ValueError:
        raise _invalid(key, raw, "an integer") from None


def _float(get: Callable[[str], Any], key: str, default: float) -> float:
    raw = get(key)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _invalid(key, raw, "a number")
    try:
        return float(raw)
    except ValueError:
        raise _invalid(key, raw, "a number") from None
