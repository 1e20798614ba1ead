"""email-templates: the stack's custom resource that publishes the email templates (files in the package)
to SES when the stack is created or updated, and deletes them with the stack.

The answer goes to CloudFormation's pre-signed `ResponseURL` as the custom-resource protocol asks; an
error answers FAILED with its reason, so a bad template stops the deployment instead of hanging it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.request import Request, urlopen

from payments import bootstrap
from payments.adapters.ses_templates import delete_email_templates, publish_email_templates
from payments.functions.observability import logger


def _respond(event: dict[str, Any], *, status: str, reason: str, data: dict[str, Any]) -> None:
    body = {
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": f"email-templates-{event['ResourceProperties']['Stage']}",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data,
    }
    request = Request(  # noqa: S310 (CloudFormation's pre-signed S3 URL)
        event["ResponseURL"], data=json.dumps(body).encode(), headers={"content-type": ""}, method="PUT"
    )
    with urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def ses_client(env: bootstrap.Environment) -> Any:
    """SES's API, all this function needs (the stage comes in the event, from the resource's properties)."""
    return env.client("ses")


@bootstrap.lambda_function(ses_client)
def handler(event: dict[str, Any], context: Any, ses: Any) -> dict[str, Any]:
    stage = str(event["ResourceProperties"]["Stage"])
    try:
        if event["RequestType"] == "Delete":
            names = delete_email_templates(ses, stage=stage)
        else:
            names = publish_email_templates(ses, stage=stage)
    except Exception as error:
        logger.exception("email templates not published")
        _respond(event, status="FAILED", reason=f"{type(error).__name__}: {error}", data={})
        return {"status": "FAILED"}
    _respond(event, status="SUCCESS", reason="", data={"Templates": ",".join(names)})
    return {"status": "SUCCESS", "templates": names}
