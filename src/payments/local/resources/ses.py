"""SES: identities, configuration sets and their event destinations."""

from __future__ import annotations

from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::SES::EmailIdentity")
def email_identity(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    identity = str(build.properties(resource)["EmailIdentity"])
    ses = build.client("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)


@creates("AWS::SES::ConfigurationSet")
def configuration_set(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    build.client("ses").create_configuration_set(ConfigurationSet={"Name": build.template.name(logical_id)})


@creates("AWS::SES::ConfigurationSetEventDestination")
def event_destination(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    destination = dict(properties["EventDestination"])
    if "SnsDestination" in destination:  # CloudFormation's spelling of the API's SNSDestination
        destination["SNSDestination"] = destination.pop("SnsDestination")
    build.client("ses").create_configuration_set_event_destination(
        ConfigurationSetName=properties["ConfigurationSetName"], EventDestination=destination
    )
