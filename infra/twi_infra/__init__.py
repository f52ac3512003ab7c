"""The AWS CDK app: one stack (TwiAsrStack) for S3 -> SQS -> Lambda -> SageMaker async -> S3."""
