"""Custom resources as CloudFormation runs them: the function gets a Create request with a pre-signed
S3 URL, and its answer there (SUCCESS or FAILED with a reason) decides whether the stack comes up.

Locally the request is made synchronously (CloudFormation invokes asynchronously, then waits for the
answer); the URL is a real pre-signed PUT to the emulator's S3, so the handler's code path is AWS's.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from payments.local.deployed import CustomResource
from payments.local.emulator import ACCOUNT_ID, REGION
from payments.local.template import StackError

RESPONSES_BUCKET = "cloudformation-custom-resource-responses"
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/payments-local/00000000-0000-0000-0000-000000000000"
)


def create_custom_resource(
    resource: CustomResource, *, invoke: Callable[[str, Any], Any], s3: Any
) -> dict[str, Any]:
    """Ask the resource's function to create it; its answer, or StackError when it failed or gave none."""
    request_id = str(uuid.uuid4())
    key = f"{resource.logical_id}/{request_id}"
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=RESPONSES_BUCKET)
    response_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": RESPONSES_BUCKET, "Key": key}, ExpiresIn=7200
    )
    event = {
        "RequestType": "Create",
        "ServiceToken": resource.service_token,
        "ResponseURL": response_url,
        "StackId": STACK_ID,
        "RequestId": request_id,
        "ResourceType": resource.resource_type,
        "LogicalResourceId": resource.logical_id,
        "ResourceProperties": resource.properties,
    }
    invocation = invoke(resource.service_token, event)
    try:
        answer: dict[str, Any] = json.loads(s3.get_object(Bucket=RESPONSES_BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise StackError(
            f"{resource.logical_id}: its function answered nothing ({invocation.payload})"
        ) from None
    if answer.get("Status") != "SUCCESS":
        raise StackError(f"{resource.logical_id}: {answer.get('Reason') or 'FAILED'}")
    return answer
