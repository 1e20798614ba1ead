"""Composition root: settings -> boto3 clients -> adapters, built once per container on first use.

Nothing here runs at import time. Each builder is cached behind a lock, because boto3 sessions are not
thread-safe to create and a container (or the local runtime) may serve requests on several threads.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from payments.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_lambda.client import LambdaClient

    from payments.adapters.deployment_hooks import CodeDeployLifecycleHooks, LambdaFunctionCaller
    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys
    from payments.adapters.dynamodb_checkouts import DynamoDBCheckoutRepository
    from payments.adapters.dynamodb_intents import DynamoDBIntentRepository
    from payments.adapters.dynamodb_ledger import DynamoDBLedger
    from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches
    from payments.adapters.dynamodb_settlements import (
        DynamoDBPaymentDirectory,
        DynamoDBSettlementBooks,
        DynamoDBSettlementReports,
    )
    from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList
    from payments.adapters.dynamodb_velocity import DynamoDBApprovalHistory, DynamoDBVelocityCounter
    from payments.adapters.event_topic import DynamoDBEventLog, SnsEventPublisher
    from payments.adapters.fraud_client import LambdaFraudScreen
    from payments.adapters.gateway_client import HttpGateway
    from payments.adapters.s3_audit import S3AuditArchive
    from payments.adapters.s3_files import S3FileStore
    from payments.adapters.ses_mailer import SesMailer
    from payments.adapters.sns_alerts import SnsOpsAlerts
    from payments.adapters.sqs_refund_jobs import SqsRefundJobQueue
    from payments.adapters.stepfunctions_workflow import StepFunctionsWorkflow
    from payments.domain.merchants import Caller
    from payments.functions.http import IdempotentRequests
    from payments.service.canary import CanaryTargets
    from payments.service.ports import IntentRepository

T = TypeVar("T")
_lock = threading.RLock()


class once(Generic[T]):  # noqa: N801 (used as a decorator)
    """Cache a zero-argument builder; the lock makes concurrent first calls build only once."""

    _all: ClassVar[list[once[Any]]] = []

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: tuple[T] | None = None
        functools.update_wrapper(self, build)
        once._all.append(self)

    def __call__(self) -> T:
        built = self._built  # every request reads this: no lock once it is set
        if built is None:
            with _lock:
                if self._built is None:
                    self._built = (self._build(),)
                built = self._built
        return built[0]

    def cache_clear(self) -> None:
        with _lock:
            self._built = None


def now() -> datetime:
    return datetime.now(UTC)


@once
def settings() -> Settings:
    return Settings.from_env(os.environ)


@once
def _session() -> Any:
    import boto3  # noqa: PLC0415 (imported on first use: cold start)

    return boto3.session.Session()


def _client(service: str) -> Any:
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=1,
        read_timeout=5,
        tcp_keepalive=True,
        max_pool_connections=32,
    )
    return _session().client(service, config=config)


@once
def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


def ses() -> Any:
    return _client("ses")


@once
def lambda_client() -> LambdaClient:
    client: LambdaClient = _client("lambda")
    return client


@once
def intent_repository() -> DynamoDBIntentRepository:
    from payments.adapters.dynamodb_intents import DynamoDBIntentRepository  # noqa: PLC0415

    config = settings()
    return DynamoDBIntentRepository(
        dynamodb(), intents_table=config.intents_table, transactions_table=config.transactions_table
    )


def intents_for(caller: Caller) -> IntentRepository:
    """The intents this caller may reach: another merchant's are not found."""
    from payments.service.merchant_scope import MerchantScopedIntents  # noqa: PLC0415

    return MerchantScopedIntents(intent_repository(), caller)


@once
def api_keys() -> DynamoDBApiKeys:
    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys  # noqa: PLC0415

    return DynamoDBApiKeys(dynamodb(), table=settings().api_keys_table)


@once
def gateway() -> HttpGateway:
    from payments.adapters.gateway_client import HttpGateway  # noqa: PLC0415

    config = settings()
    return HttpGateway(
        base_url=config.gateway_base_url,
        read_timeout=config.gateway_timeout_seconds,
        max_attempts=config.gateway_max_attempts,
    )


@once
def fraud_screen() -> LambdaFraudScreen:
    from payments.adapters.fraud_client import LambdaFraudScreen  # noqa: PLC0415

    return LambdaFraudScreen(lambda_client(), function_name=settings().fraud_function_name)


@once
def velocity_counter() -> DynamoDBVelocityCounter:
    from payments.adapters.dynamodb_velocity import DynamoDBVelocityCounter  # noqa: PLC0415

    return DynamoDBVelocityCounter(dynamodb(), table=settings().fraud_velocity_table)


@once
def approval_history() -> DynamoDBApprovalHistory:
    from payments.adapters.dynamodb_velocity import DynamoDBApprovalHistory  # noqa: PLC0415

    return DynamoDBApprovalHistory(dynamodb(), table=settings().fraud_velocity_table)


@once
def idempotent_requests() -> IdempotentRequests:
    from payments.functions.http import IdempotentRequests  # noqa: PLC0415

    config = settings()
    return IdempotentRequests(
        table_name=config.idempotency_table,
        client=dynamodb(),
        expires_after_seconds=config.idempotency_ttl_seconds,
    )


@once
def checkout_gateway() -> HttpGateway:
    """The gateway as the checkout workflow's tasks use it: one attempt, the state machine retries."""
    from payments.adapters.gateway_client import HttpGateway  # noqa: PLC0415

    config = settings()
    return HttpGateway(
        base_url=config.gateway_base_url, read_timeout=config.gateway_timeout_seconds, max_attempts=1
    )


@once
def checkout_repository() -> DynamoDBCheckoutRepository:
    from payments.adapters.dynamodb_checkouts import DynamoDBCheckoutRepository  # noqa: PLC0415

    return DynamoDBCheckoutRepository(dynamodb(), table=settings().checkouts_table)


@once
def workflow() -> StepFunctionsWorkflow:
    from payments.adapters.stepfunctions_workflow import StepFunctionsWorkflow  # noqa: PLC0415

    return StepFunctionsWorkflow(
        _client("stepfunctions"), state_machine_arn=settings().checkout_state_machine_arn
    )


@once
def ledger() -> DynamoDBLedger:
    from payments.adapters.dynamodb_ledger import DynamoDBLedger  # noqa: PLC0415

    config = settings()
    return DynamoDBLedger(
        dynamodb(),
        table=config.ledger_table,
        balances_table=config.ledger_balances_table,
        intents_table=config.intents_table,
    )


@once
def mailer() -> SesMailer:
    from payments.adapters.ses_mailer import SesMailer  # noqa: PLC0415

    config = settings()
    return SesMailer(
        ses(),
        sender=config.receipt_sender,
        configuration_set=config.receipts_configuration_set,
        stage=config.stage,
    )


@once
def suppression_list() -> DynamoDBSuppressionList:
    from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList  # noqa: PLC0415

    return DynamoDBSuppressionList(dynamodb(), table=settings().receipt_suppressions_table)


@once
def customer_success_alerts() -> SnsOpsAlerts:
    """Customer success's notifications: the same kind of topic as ops alerts, a different audience."""
    from payments.adapters.sns_alerts import SnsOpsAlerts  # noqa: PLC0415

    return SnsOpsAlerts(_client("sns"), topic_arn=settings().customer_success_topic_arn)


@once
def audit_archive() -> S3AuditArchive:
    from payments.adapters.s3_audit import S3AuditArchive  # noqa: PLC0415

    config = settings()
    return S3AuditArchive(_client("s3"), bucket=config.audit_bucket, kms_key=config.data_key)


@once
def refund_batches() -> DynamoDBRefundBatches:
    from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches  # noqa: PLC0415

    return DynamoDBRefundBatches(dynamodb(), table=settings().refund_batches_table)


@once
def refund_files() -> S3FileStore:
    from payments.adapters.s3_files import S3FileStore  # noqa: PLC0415

    config = settings()
    return S3FileStore(_client("s3"), bucket=config.refund_files_bucket, kms_key=config.data_key)


@once
def refund_jobs() -> SqsRefundJobQueue:
    from payments.adapters.sqs_refund_jobs import SqsRefundJobQueue  # noqa: PLC0415

    return SqsRefundJobQueue(_client("sqs"), queue_url=settings().refund_jobs_queue_url)


@once
def ops_alerts() -> SnsOpsAlerts:
    from payments.adapters.sns_alerts import SnsOpsAlerts  # noqa: PLC0415

    return SnsOpsAlerts(_client("sns"), topic_arn=settings().ops_alerts_topic_arn)


@once
def event_publisher() -> SnsEventPublisher:
    from payments.adapters.event_topic import SnsEventPublisher  # noqa: PLC0415

    return SnsEventPublisher(_client("sns"), topic_arn=settings().payment_events_topic_arn)


@once
def event_log() -> DynamoDBEventLog:
    from payments.adapters.event_topic import DynamoDBEventLog  # noqa: PLC0415

    return DynamoDBEventLog(dynamodb(), table=settings().events_table)


@once
def webhook_secret() -> str:
    """The gateway's webhook signing secret, read once per container from Secrets Manager."""
    secret: str = _client("secretsmanager").get_secret_value(SecretId=settings().webhook_secret_arn)[
        "SecretString"
    ]
    return secret


@once
def function_caller() -> LambdaFunctionCaller:
    from payments.adapters.deployment_hooks import LambdaFunctionCaller  # noqa: PLC0415

    return LambdaFunctionCaller(lambda_client())


@once
def lifecycle_hooks() -> CodeDeployLifecycleHooks:
    from payments.adapters.deployment_hooks import CodeDeployLifecycleHooks  # noqa: PLC0415

    return CodeDeployLifecycleHooks(_client("codedeploy"))


@once
def canary_targets() -> CanaryTargets:
    from payments.service.canary import CanaryTargets  # noqa: PLC0415

    config = settings()
    return CanaryTargets(
        create_intent=config.canary_create_intent_function,
        authorize=config.canary_authorize_function,
        void=config.canary_void_function,
        start_checkout=config.canary_start_checkout_function,
        get_checkout=config.canary_get_checkout_function,
    )


def reset() -> None:
    """Forget every built object (tests, and the local runtime after it changes the environment)."""
    for builder in once._all:
        builder.cache_clear()


@once
def settlement_gateway() -> HttpGateway:
    from payments.adapters.gateway_client import HttpGateway  # noqa: PLC0415

    config = settings()
    return HttpGateway(base_url=config.gateway_base_url, read_timeout=30.0, max_attempts=3)


@once
def settlement_files() -> S3FileStore:
    from payments.adapters.s3_files import S3FileStore  # noqa: PLC0415

    config = settings()
    return S3FileStore(_client("s3"), bucket=config.settlements_bucket, kms_key=config.data_key)


@once
def payment_directory() -> DynamoDBPaymentDirectory:
    from payments.adapters.dynamodb_settlements import DynamoDBPaymentDirectory  # noqa: PLC0415

    return DynamoDBPaymentDirectory(dynamodb(), intents_table=settings().intents_table)


@once
def settlement_books() -> DynamoDBSettlementBooks:
    from payments.adapters.dynamodb_settlements import DynamoDBSettlementBooks  # noqa: PLC0415

    config = settings()
    return DynamoDBSettlementBooks(
        dynamodb(), ledger_table=config.ledger_table, settlements_table=config.settlements_table
    )


@once
def settlement_reports() -> DynamoDBSettlementReports:
    from payments.adapters.dynamodb_settlements import DynamoDBSettlementReports  # noqa: PLC0415

    return DynamoDBSettlementReports(dynamodb(), table=settings().settlements_table)
