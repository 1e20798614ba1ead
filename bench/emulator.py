"""A boto3 client for the launched local stack's AWS emulator (the benches look inside with it)."""

from __future__ import annotations

from typing import Any

import boto3

from launcher import LaunchedStack


def emulator_client(stack: LaunchedStack, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (the local emulator's)
    )
