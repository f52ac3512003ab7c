"""The offline local stack: the production flow on 127.0.0.1, with the code that ships.

Entry point: ``twi_asr.local.stack.LocalStack`` (a context manager). One module per part:

- ``config``: names (from ``twi_lambdas.names``, like the CDK stack) and local timings
- ``moto_server`` / ``provision``: moto in server mode; bucket, queues, DLQs, topics, notification
- ``wire`` / ``runtime_server`` / ``endpoint`` / ``container``: the SageMaker async endpoint
- ``lambda_runtime`` / ``event_source``: Lambda functions and their SQS event source mappings
- ``state``: the running stack's coordinates for ``twi-asr local put`` in another terminal
- ``persistence`` / ``lifeline``: the bucket kept on disk across stops; workers that end with the stack

Kept import-light on purpose (no moto here): the CLI's ``put`` only needs ``state``.
"""
