"""The CDK app: one stack with the bucket, queues, Lambdas, async endpoint and dashboard."""
