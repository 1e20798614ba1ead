"""The resource creators, one per resource type, grouped by service; importing this package fills the
table in `registry` (`@creates("AWS::DynamoDB::Table")` and so on)."""

from payments.local.resources import (
    apigateway,
    cloudformation,
    cloudwatch,
    dynamodb,
    iam,
    kms,
    lambda_,
    logs,
    s3,
    secretsmanager,
    ses,
    sns,
    sqs,
    stepfunctions,
)

__all__ = [
    "apigateway",
    "cloudformation",
    "cloudwatch",
    "dynamodb",
    "iam",
    "kms",
    "lambda_",
    "logs",
    "s3",
    "secretsmanager",
    "ses",
    "sns",
    "sqs",
    "stepfunctions",
]
