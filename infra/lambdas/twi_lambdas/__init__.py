"""The two Lambda functions of the serverless flow (submit, complete) and their domain logic.

Runs on the Lambda Python 3.12 runtime with the standard library and boto3 only, so the
CDK stack ships this folder as-is, with no bundling step.
"""
