"""What each local process is given: the CDK stack's settings, local URLs, dummy credentials."""

from __future__ import annotations

from twi_endpoint.settings import EndpointSettings
from twi_lambdas import names
from twi_lambdas.settings import Settings

from twi_asr.local.config import COMPLETE_FUNCTION, SUBMIT_FUNCTION, LocalConfig
from twi_asr.local.environments import container_environment, lambda_environment

MOTO = "http://127.0.0.1:5000"
RUNTIME = "http://127.0.0.1:5001"


def test_submit_gets_what_it_needs_to_call_the_local_endpoint() -> None:
    config = LocalConfig(language="tw", task="transcribe")
    env = lambda_environment(config, SUBMIT_FUNCTION, MOTO, RUNTIME)
    assert env["AWS_ENDPOINT_URL"] == MOTO
    assert env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == RUNTIME
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_REGION"] == config.region
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == SUBMIT_FUNCTION
    # The Lambda's own settings parser accepts it and reads the stack's names back.
    settings = Settings.from_env(env)
    assert settings.endpoint_name == config.endpoint_name
    assert settings.bucket_name == config.bucket
    assert settings.default_task == "transcribe"
    assert settings.max_input_bytes == names.MAX_ASYNC_INPUT_BYTES


def test_complete_does_not_get_the_endpoint_name() -> None:
    env = lambda_environment(LocalConfig(), COMPLETE_FUNCTION, MOTO, RUNTIME)
    assert names.ENV_ENDPOINT_NAME not in env  # as in the CDK stack: it reads it from the notification
    assert "DEFAULT_LANGUAGE" not in env  # the endpoint applies a default language, not the Lambdas
    assert Settings.from_env(env).bucket_name == LocalConfig().bucket


def test_the_container_environment_is_read_by_the_endpoint_settings() -> None:
    env = container_environment(LocalConfig(language="en", task="translate"))
    assert env["SAGEMAKER_PROGRAM"] == "inference.py"
    settings = EndpointSettings.from_env(env)
    assert (settings.language, settings.task) == ("en", "translate")
    assert EndpointSettings.from_env(container_environment(LocalConfig())).language is None
