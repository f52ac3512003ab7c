"""The two Lambda functions of the serverless flow (submit, complete) and their domain logic.

Runs on the Lambda Python 3.12 runtime with the standard library, boto3 and Powertools (the
AWS-managed layer), so the CDK stack ships this folder as-is, with no bundling step.
"""
