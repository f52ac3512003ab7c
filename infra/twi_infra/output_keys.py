"""CloudFormation output keys of TwiAsrStack, shared by the stack, its tests and the client."""

from __future__ import annotations

from typing import Final

STACK_NAME: Final = "TwiAsrStack"


class OutputKeys:
    """``aws cloudformation describe-stacks`` shows these; the CLI reads them to find the stack."""

    BUCKET_NAME: Final = "BucketName"
    ENDPOINT_NAME: Final = "EndpointName"
    DASHBOARD_URL: Final = "DashboardUrl"
    SUBMIT_QUEUE_URL: Final = "SubmitQueueUrl"
    RESULT_QUEUE_URL: Final = "ResultQueueUrl"
    ALARM_TOPIC_ARN: Final = "AlarmTopicArn"
