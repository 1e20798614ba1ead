"""The API's Lambda authorizer (HTTP API, payload 2.0, simple responses): is this API key valid?

API Gateway calls it with the request's `Authorization` header (it answers 401 itself when there is
none) and caches the answer for that header value, so most requests never reach it. The answer's
context (`scope`: `merchant` or `platform`, a merchant key's `merchantId`, `keyId`) reaches every
function as `requestContext.authorizer.lambda`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from payments import bootstrap
from payments.domain.api_keys import bearer_secret
from payments.functions.observability import logger

if TYPE_CHECKING:
    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys


@bootstrap.lambda_function(bootstrap.api_keys)
def handler(event: dict[str, Any], context: Any, api_keys: DynamoDBApiKeys) -> dict[str, Any]:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    secret = bearer_secret(headers.get("authorization"))
    key = api_keys.find(secret) if secret is not None else None
    if key is None:
        logger.info("api key refused")  # never the key: not even part of it
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": key.authorizer_context()}
