"""API Gateway (HTTP API): the API, its Lambda authorizers, and its routes.

Routes come from the functions' `HttpApi` events; once every function exists, `publish_routes` gives
each route its authorizer and registers the API and its routes in the emulator, so that
`aws apigatewayv2` lists them. The front door serves them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from payments.local.deployed import Authorizer
from payments.local.resources.registry import Build, creates
from payments.local.template import StackError


@creates("AWS::Serverless::HttpApi")
def http_api(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)  # resolves every reference, so a broken one fails here
    build.http_apis[logical_id] = properties.get("Auth", {})


def publish_routes(build: Build) -> None:
    """Register the APIs and their routes in the emulator too, so `aws apigatewayv2` can list them."""
    _resolve_authorizers(build)
    apis = build.client("apigatewayv2")
    for logical_id in build.http_apis:
        api = apis.create_api(Name=build.template.physical_id(logical_id), ProtocolType="HTTP")
        for route in build.deployed.routes:
            apis.create_route(ApiId=api["ApiId"], RouteKey=route.route_key)


def _resolve_authorizers(build: Build) -> None:
    """Each route's authorizer: its own (or NONE), else the API's default, as API Gateway does."""
    # The template has one API; with several, the last one's Auth would apply to every route.
    auth: dict[str, Any] = next(reversed(build.http_apis.values()), {})
    authorizers = {}
    for name, config in auth.get("Authorizers", {}).items():
        if "FunctionArn" not in config:
            raise StackError(f"authorizer {name}: only Lambda authorizers run locally")
        identity = config.get("Identity", {})
        authorizers[name] = Authorizer(
            function_name=str(config["FunctionArn"]).rsplit(":function:", 1)[-1].split(":", 1)[0],
            identity_headers=tuple(header.lower() for header in identity.get("Headers", [])),
            cache_seconds=int(identity.get("ReauthorizeEvery", 300)),
        )
    default = auth.get("DefaultAuthorizer")
    resolved = []
    for route in build.deployed.routes:
        name = route.auth or default
        if name is not None and name != "NONE" and name not in authorizers:
            raise StackError(f"route {route.route_key}: no authorizer named {name}")
        resolved.append(replace(route, authorizer=authorizers.get(name) if name else None))
    build.deployed.routes = resolved
