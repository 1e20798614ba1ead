"""Unit tests run with sockets off: anything that tries the network fails loudly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_socket import disable_socket, enable_socket

from payments.local.cfn_yaml import load_template
from payments.local.sam import translate

APPLICATION_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(autouse=True)
def _no_sockets() -> Iterator[None]:
    disable_socket(allow_unix_socket=False)
    yield
    enable_socket()


@pytest.fixture(scope="session")
def application_template() -> dict[str, Any]:
    return load_template(APPLICATION_TEMPLATE)


@pytest.fixture(scope="session")
def translated_application(application_template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """template.yaml as the SAM transform makes it into CloudFormation, offline (it needs a region)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        yield translate(application_template)
