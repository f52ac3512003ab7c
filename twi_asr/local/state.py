"""The running stack's coordinates, in a small JSON file in its work directory.

``twi-asr local up`` writes it; ``twi-asr local put`` / ``results`` in another terminal read
it to find the endpoints and the bucket. It holds no secret: the credentials are moto's
public dummy values, set in the reading process only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from twi_asr.local.config import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, STATE_FILE_NAME


class NoLocalStackError(RuntimeError):
    """No stack is running for this work directory."""


@dataclass(frozen=True)
class StackState:
    aws_endpoint_url: str  # moto: S3, SQS, SNS
    sagemaker_runtime_url: str  # the local SageMaker Runtime
    region: str
    bucket: str
    endpoint_name: str
    queues: dict[str, str]  # logical name -> queue URL
    model_dir: str
    pid: int
    workdir: str

    def write(self) -> Path:
        path = Path(self.workdir) / STATE_FILE_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, workdir: Path) -> StackState:
        path = workdir / STATE_FILE_NAME
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            raise NoLocalStackError(
                f"no local stack is running for {workdir} (no readable {STATE_FILE_NAME}): "
                "start one with `twi-asr local up` in another terminal"
            ) from None
        try:
            state = cls(**data)
        except TypeError:
            raise NoLocalStackError(
                f"{path} is not a local stack state file: start `twi-asr local up`"
            ) from None
        if not _alive(state.pid):
            raise NoLocalStackError(
                f"the local stack recorded in {path} (pid {state.pid}) is not running any more: "
                "start it again with `twi-asr local up`"
            )
        return state

    def is_running(self) -> bool:
        """Whether the process that wrote this state is still alive."""
        return _alive(self.pid)

    def session(self) -> LocalSession:
        """A boto3 session whose clients talk to this stack, whatever the user's AWS config."""
        return LocalSession(self.aws_endpoint_url, self.sagemaker_runtime_url, self.region)


class LocalSession(boto3.session.Session):
    """boto3 session with moto's dummy credentials and each client pointed at the local stack.

    Explicit endpoint URLs per client rather than ``AWS_ENDPOINT_URL`` in ``os.environ``:
    nothing in this process (or a user's shell) is changed.
    """

    def __init__(self, aws_endpoint_url: str, sagemaker_runtime_url: str, region: str) -> None:
        super().__init__(
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
            region_name=region,
        )
        self._urls = {"sagemaker-runtime": sagemaker_runtime_url}
        self._default_url = aws_endpoint_url

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", self._urls.get(service_name, self._default_url))
        return super().client(service_name, *args, **kwargs)


def activate_local_state(workdir: Path | None = None) -> StackState:
    """Point this process's boto3 at the running local stack and return its coordinates.

    For code that builds its clients from the environment (``boto3.client("s3")``): sets
    ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``, the region and moto's dummy
    credentials in ``os.environ`` of this process only, and drops a profile or session token
    that would otherwise win. Prefer ``StackState.session()`` where a session can be passed.
    """
    from twi_asr.local.config import default_workdir

    state = StackState.read(workdir or default_workdir())
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": state.aws_endpoint_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": state.sagemaker_runtime_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_REGION": state.region,
            "AWS_DEFAULT_REGION": state.region,
        }
    )
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
