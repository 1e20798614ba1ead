"""The deployment checks' two AWS edges: calling a function version, and answering CodeDeploy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from payments.service.canary import CanaryFailed, DeploymentTarget, FunctionCaller, LifecycleHooks

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient


class LambdaFunctionCaller(FunctionCaller):
    def __init__(self, client: LambdaClient) -> None:
        self._client = client

    def call(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self._client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            raise CanaryFailed(f"{function} failed: {payload[:500]!r}")
        answer = json.loads(payload)
        if not isinstance(answer, dict):
            raise CanaryFailed(f"{function} answered {answer!r}, not an object")
        return answer


class CodeDeployLifecycleHooks(LifecycleHooks):
    def __init__(self, client: Any) -> None:
        self._client = client

    def target(self, deployment_id: str) -> DeploymentTarget:
        """Read from the deployment's AppSpec, which CloudFormation writes as JSON when it updates a
        `live` alias (`{"Resources": [{"<id>": {"Properties": {"Name", "TargetVersion", ...}}}]}`)."""
        info = self._client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        content = info.get("revision", {}).get("appSpecContent", {}).get("content", "")
        try:
            (resource,) = json.loads(content)["Resources"]
            (properties,) = (entry["Properties"] for entry in resource.values())
            return DeploymentTarget(str(properties["Name"]), str(properties["TargetVersion"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CanaryFailed(f"deployment {deployment_id}: no Lambda target in its AppSpec") from error

    def report(self, *, deployment_id: str, execution_id: str, succeeded: bool) -> None:
        self._client.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id,
            lifecycleEventHookExecutionId=execution_id,
            status="Succeeded" if succeeded else "Failed",
        )
