"""Composition roots: a function's environment -> boto3 clients -> adapters.

Each handler module declares what it needs (a `wire(env)` building a small dataclass from the
builders below) and `lambda_function` builds it once per container from *that function's*
environment: in AWS the process's, in the local runtime the variables its `template.yaml` entry
gives it and nothing else, so a variable missing from one function fails there exactly as in AWS.
Tests pass fakes to `with_dependencies` instead of patching module state.

Nothing here runs at import time; adapters are imported inside their builders (cold start), and the
bundler (`delivery.imports`) follows only the builders a handler module names.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from payments.settings import Settings, SettingsError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from payments.adapters.deployment_hooks import CodeDeployLifecycleHooks, LambdaFunctionCaller
    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys
    from payments.adapters.dynamodb_checkouts import DynamoDBCheckoutRepository
    from payments.adapters.dynamodb_intents import DynamoDBIntentRepository
    from payments.adapters.dynamodb_ledger import DynamoDBLedger
    from payments.adapters.dynamodb_processor_rules import DynamoDBProcessorRules
    from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches
    from payments.adapters.dynamodb_settlements import (
        DynamoDBPaymentDirectory,
        DynamoDBSettlementBooks,
        DynamoDBSettlementReports,
    )
    from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList
    from payments.adapters.dynamodb_velocity import DynamoDBApprovalHistory, DynamoDBVelocityCounter
    from payments.adapters.dynamodb_webhook_deliveries import DynamoDBWebhookDeliveries, DynamoDBWebhookEvents
    from payments.adapters.dynamodb_webhook_endpoints import DynamoDBWebhookEndpoints
    from payments.adapters.event_topic import DynamoDBEventLog, SnsEventPublisher
    from payments.adapters.fraud_client import LambdaFraudScreen
    from payments.adapters.gateway_client import HttpGateway
    from payments.adapters.http_webhook_sender import UrllibWebhookSender
    from payments.adapters.s3_audit import S3AuditArchive
    from payments.adapters.s3_files import S3FileStore
    from payments.adapters.secretsmanager_webhook_secrets import SecretsManagerWebhookSecrets
    from payments.adapters.ses_mailer import SesMailer
    from payments.adapters.sns_alerts import SnsOpsAlerts
    from payments.adapters.sqs_refund_jobs import SqsRefundJobQueue
    from payments.adapters.sqs_webhook_events import SqsWebhookEventQueue
    from payments.adapters.sqs_webhook_queue import SqsWebhookQueue
    from payments.adapters.stepfunctions_workflow import StepFunctionsWorkflow
    from payments.adapters.stripe_gateway import StripeGateway
    from payments.functions.http import IdempotentRequests
    from payments.service.canary import CanaryTargets
    from payments.service.ports import PaymentGateway
    from payments.service.processors import Processors

T = TypeVar("T")
D = TypeVar("D")
R = TypeVar("R")

# A secret read from Secrets Manager is used for at most this long before it is read again, so a
# rotated secret reaches warm containers within minutes instead of at their next cold start.
SECRET_MAX_AGE_SECONDS = 300.0


def now() -> datetime:
    return datetime.now(UTC)


class Once(Generic[T]):
    """A value built on first use; the lock makes concurrent first calls build it only once."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._built: tuple[T] | None = None

    def __call__(self) -> T:
        built = self._built  # every request reads this: no lock once it is set
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = (self._build(),)
                built = self._built
        return built[0]


_clients_lock = threading.Lock()
_sessions: list[Any] = []
_clients: dict[tuple[str, str | None, str | None], Any] = {}


def _client(service: str) -> Any:
    """A boto3 client, shared by the process: a client holds no function's settings, only its
    region, credentials and endpoint (the runtime's), so every function in the process may use it.
    Keyed by region and endpoint too, so a process that starts another local stack gets new ones."""
    from botocore.config import Config  # noqa: PLC0415

    key = (
        service,
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        os.environ.get("AWS_ENDPOINT_URL"),
    )
    with _clients_lock:
        if key not in _clients:
            if not _sessions:
                import boto3  # noqa: PLC0415 (imported on first use: cold start)

                _sessions.append(boto3.session.Session())
            config = Config(
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=1,
                read_timeout=5,
                tcp_keepalive=True,
                max_pool_connections=32,
            )
            _clients[key] = _sessions[0].client(service, config=config)
        return _clients[key]


class Environment:
    """One function's environment variables, its typed settings and its boto3 clients."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = dict(variables)
        self._settings = Once(lambda: Settings.from_env(self.variables))

    @property
    def settings(self) -> Settings:
        return self._settings()

    def need(self, name: str) -> str:
        """A setting this function cannot work without: its variable must be set and non-empty."""
        value = getattr(self.settings, name)
        if not isinstance(value, str) or not value:
            raise SettingsError(f"environment variable {name.upper()} is required by this function")
        return value

    def client(self, service: str) -> Any:
        return _client(service)


class LambdaFunction(Generic[D, R]):
    """A handler and how its dependencies are wired.

    Lambda calls the object itself: it is wired once per container from the process's environment.
    The local runtime asks for `with_environment(variables)` per function (one process serves them
    all), and tests for `with_dependencies(fakes)`.
    """

    def __init__(self, wire: Callable[[Environment], D], run: Callable[[Any, Any, D], R]) -> None:
        self.wire = wire
        self.run = run
        self.__wrapped__ = run
        self.__module__ = getattr(run, "__module__", __name__)
        self.__name__ = getattr(run, "__name__", "handler")
        self.__doc__ = run.__doc__
        self._own = self._container(Once(lambda: wire(Environment(os.environ))))

    def _container(self, dependencies: Callable[[], D]) -> Callable[[Any, Any], R]:
        from payments.functions.observability import observed  # noqa: PLC0415

        def handler(event: Any, context: Any) -> R:
            return self.run(event, context, dependencies())  # a wiring failure is the invocation's

        handler.__module__ = self.__module__
        handler.__name__ = handler.__qualname__ = self.__name__
        return observed(handler)

    def __call__(self, event: Any, context: Any) -> R:
        return self._own(event, context)

    def with_environment(self, variables: Mapping[str, str]) -> Callable[[Any, Any], R]:
        """This function in a container of its own, wired (on its first event) from `variables`."""
        return self._container(Once(lambda: self.wire(Environment(variables))))

    def with_dependencies(self, dependencies: D) -> Callable[[Any, Any], R]:
        return self._container(lambda: dependencies)


def lambda_function(
    wire: Callable[[Environment], D],
) -> Callable[[Callable[[Any, Any, D], R]], LambdaFunction[D, R]]:
    """Declare a handler `(event, context, dependencies)` and its `wire(env) -> dependencies`."""

    def declare(run: Callable[[Any, Any, D], R]) -> LambdaFunction[D, R]:
        return LambdaFunction(wire, run)

    return declare


def nothing(_env: Environment) -> None:
    """The wiring of a function that needs no AWS client (it still runs in its own container)."""
    return


# -- builders: one per adapter, each from a function's environment ---------------------------------


def dynamodb(env: Environment) -> DynamoDBClient:
    client: DynamoDBClient = env.client("dynamodb")
    return client


def intent_repository(env: Environment) -> DynamoDBIntentRepository:
    from payments.adapters.dynamodb_intents import DynamoDBIntentRepository  # noqa: PLC0415

    return DynamoDBIntentRepository(
        dynamodb(env),
        intents_table=env.need("intents_table"),
        transactions_table=env.need("transactions_table"),
    )


def api_keys(env: Environment) -> DynamoDBApiKeys:
    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys  # noqa: PLC0415

    return DynamoDBApiKeys(dynamodb(env), table=env.need("api_keys_table"))


def gateway(env: Environment) -> Processors:
    """The processors as API functions use them: a few attempts within the request."""
    return _processors(env, max_attempts=env.settings.gateway_max_attempts)


def checkout_gateway(env: Environment) -> Processors:
    """The processors as the checkout workflow's tasks use them: one attempt, the state machine retries."""
    return _processors(env, max_attempts=1)


def _processors(env: Environment, *, max_attempts: int) -> Processors:
    """The sandbox gateway always; Stripe where the function is given Stripe's secret. Each is built
    when a payment of its processor first comes by, Stripe's once per merchant (its key is read then:
    the merchant's own where it has one, else the deployment's, and again after
    `SECRET_MAX_AGE_SECONDS`)."""
    from payments.adapters.gateway_client import HttpGateway  # noqa: PLC0415
    from payments.domain.intents import Processor  # noqa: PLC0415
    from payments.service.processors import Processors  # noqa: PLC0415

    base_url = env.need("gateway_base_url")
    timeout = env.settings.gateway_timeout_seconds
    # One sandbox gateway (and its connections) for every merchant: the sandbox has no accounts.
    sandbox = Once(lambda: HttpGateway(base_url=base_url, read_timeout=timeout, max_attempts=max_attempts))
    gateways: dict[Processor, Callable[[str], PaymentGateway]] = {
        Processor.SANDBOX: lambda _merchant: sandbox()
    }
    if env.settings.stripe_secret_arn:
        # The deployment's key, shared by every merchant without one of its own (made on first use:
        # a function that never meets a Stripe payment makes no Secrets Manager client).
        deployment_key = Once(lambda: stripe_key(env))
        gateways[Processor.STRIPE] = lambda merchant_id: stripe_gateway(
            env, max_attempts=max_attempts, merchant_id=merchant_id, deployment_key=deployment_key()
        )
    return Processors(gateways)


def stripe_gateway(
    env: Environment,
    *,
    max_attempts: int,
    merchant_id: str | None = None,
    deployment_key: Secret | None = None,
) -> StripeGateway:
    """Stripe, called with the merchant's own key where it has one (else the deployment's); with no
    merchant, with the deployment's key."""
    from payments.adapters.stripe_gateway import StripeGateway  # noqa: PLC0415

    return StripeGateway(
        api_key=stripe_key(env, merchant_id, deployment_key=deployment_key),
        api_base=env.need("stripe_api_base"),
        timeout_seconds=env.settings.gateway_timeout_seconds,
        max_retries=max_attempts - 1,
        return_url=env.settings.stripe_return_url or None,
    )


# What may follow `<deployment secret name>/` in a secret's name (Secrets Manager names allow no `:`,
# which a merchant id may hold: such a merchant can have no key of its own).
_MERCHANT_SECRET_SUFFIX = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


def merchant_secret_name(deployment_secret: str, merchant_id: str) -> str | None:
    """The name of the merchant's own secret beside the deployment's (`payments/stripe-api-key-<stage>/
    <merchantId>`), from the deployment secret's name or ARN; None if the merchant id cannot name one."""
    if not _MERCHANT_SECRET_SUFFIX.fullmatch(merchant_id):
        return None
    name = deployment_secret
    if deployment_secret.startswith("arn:"):
        # An ARN ends with the name, a hyphen and six characters Secrets Manager added.
        name = re.sub(r"-[A-Za-z0-9]{6}$", "", deployment_secret.split(":", 6)[-1])
    return f"{name}/{merchant_id}"


def stripe_key(
    env: Environment, merchant_id: str | None = None, *, deployment_key: Secret | None = None
) -> Secret:
    """Stripe's key for a merchant: its own secret, read first (and again after
    `SECRET_MAX_AGE_SECONDS`, so a key set later is taken up), else the deployment's. The key itself is
    never logged."""
    client = env.client("secretsmanager")
    arn = env.need("stripe_secret_arn")
    deployment = Secret(client, arn) if deployment_key is None else deployment_key
    own = None if merchant_id is None else merchant_secret_name(arn, merchant_id)
    return deployment if own is None else Secret(client, own, otherwise=deployment)


def processor_rules(env: Environment) -> DynamoDBProcessorRules:
    """Each merchant's processor rules (create-intent reads them to choose a new payment's processor)."""
    from payments.adapters.dynamodb_processor_rules import DynamoDBProcessorRules  # noqa: PLC0415

    return DynamoDBProcessorRules(dynamodb(env), table=env.need("merchant_processors_table"))


def settlement_gateway(env: Environment) -> HttpGateway:
    from payments.adapters.gateway_client import HttpGateway  # noqa: PLC0415

    return HttpGateway(base_url=env.need("gateway_base_url"), read_timeout=30.0, max_attempts=3)


def fraud_screen(env: Environment) -> LambdaFraudScreen:
    from payments.adapters.fraud_client import LambdaFraudScreen  # noqa: PLC0415

    return LambdaFraudScreen(env.client("lambda"), function_name=env.need("fraud_function_name"))


def velocity_counter(env: Environment) -> DynamoDBVelocityCounter:
    from payments.adapters.dynamodb_velocity import DynamoDBVelocityCounter  # noqa: PLC0415

    return DynamoDBVelocityCounter(dynamodb(env), table=env.need("fraud_velocity_table"))


def approval_history(env: Environment) -> DynamoDBApprovalHistory:
    from payments.adapters.dynamodb_velocity import DynamoDBApprovalHistory  # noqa: PLC0415

    return DynamoDBApprovalHistory(dynamodb(env), table=env.need("fraud_velocity_table"))


def idempotent_requests(env: Environment) -> IdempotentRequests:
    from payments.functions.http import IdempotentRequests  # noqa: PLC0415

    return IdempotentRequests(
        table_name=env.need("idempotency_table"),
        client=dynamodb(env),
        expires_after_seconds=env.settings.idempotency_ttl_seconds,
    )


def checkout_repository(env: Environment) -> DynamoDBCheckoutRepository:
    from payments.adapters.dynamodb_checkouts import DynamoDBCheckoutRepository  # noqa: PLC0415

    return DynamoDBCheckoutRepository(dynamodb(env), table=env.need("checkouts_table"))


def workflow(env: Environment) -> StepFunctionsWorkflow:
    from payments.adapters.stepfunctions_workflow import StepFunctionsWorkflow  # noqa: PLC0415

    return StepFunctionsWorkflow(
        env.client("stepfunctions"), state_machine_arn=env.need("checkout_state_machine_arn")
    )


def execution_history(env: Environment) -> StepFunctionsWorkflow:
    """The workflow as the audit task reads it: an execution's history by the ARN its event carries
    (the state machine names that function, so its template entry cannot name the machine)."""
    from payments.adapters.stepfunctions_workflow import StepFunctionsWorkflow  # noqa: PLC0415

    return StepFunctionsWorkflow(env.client("stepfunctions"), state_machine_arn=None)


def ledger(env: Environment) -> DynamoDBLedger:
    from payments.adapters.dynamodb_ledger import DynamoDBLedger  # noqa: PLC0415

    return DynamoDBLedger(
        dynamodb(env),
        table=env.need("ledger_table"),
        balances_table=env.need("ledger_balances_table"),
        intents_table=env.need("intents_table"),
    )


def ledger_entries(env: Environment) -> DynamoDBLedger:
    """The ledger as a function that reads entries uses it: it needs the entries table only (it never
    posts, so the balances table is named only if the function is given it)."""
    from payments.adapters.dynamodb_ledger import DynamoDBLedger  # noqa: PLC0415

    return DynamoDBLedger(
        dynamodb(env),
        table=env.need("ledger_table"),
        balances_table=env.settings.ledger_balances_table,
        intents_table=env.settings.intents_table,
    )


def ledger_balances(env: Environment) -> DynamoDBLedger:
    """The ledger as a function that reads balances uses it: it needs the balances table only (it
    never posts, so the entries table is named only if the function is given it)."""
    from payments.adapters.dynamodb_ledger import DynamoDBLedger  # noqa: PLC0415

    return DynamoDBLedger(
        dynamodb(env),
        table=env.settings.ledger_table,
        balances_table=env.need("ledger_balances_table"),
        intents_table=env.settings.intents_table,
    )


def mailer(env: Environment) -> SesMailer:
    from payments.adapters.ses_mailer import SesMailer  # noqa: PLC0415

    return SesMailer(
        env.client("ses"),
        sender=env.need("receipt_sender"),
        configuration_set=env.need("receipts_configuration_set"),
        stage=env.settings.stage,
    )


def suppression_list(env: Environment) -> DynamoDBSuppressionList:
    from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList  # noqa: PLC0415

    return DynamoDBSuppressionList(dynamodb(env), table=env.need("receipt_suppressions_table"))


def customer_success_alerts(env: Environment) -> SnsOpsAlerts:
    """Customer success's notifications: the same kind of topic as ops alerts, a different audience."""
    from payments.adapters.sns_alerts import SnsOpsAlerts  # noqa: PLC0415

    return SnsOpsAlerts(env.client("sns"), topic_arn=env.need("customer_success_topic_arn"))


def audit_archive(env: Environment) -> S3AuditArchive:
    from payments.adapters.s3_audit import S3AuditArchive  # noqa: PLC0415

    return S3AuditArchive(env.client("s3"), bucket=env.need("audit_bucket"), kms_key=env.need("data_key"))


def refund_batches(env: Environment) -> DynamoDBRefundBatches:
    from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches  # noqa: PLC0415

    return DynamoDBRefundBatches(dynamodb(env), table=env.need("refund_batches_table"))


def refund_files(env: Environment) -> S3FileStore:
    from payments.adapters.s3_files import S3FileStore  # noqa: PLC0415

    return S3FileStore(env.client("s3"), bucket=env.need("refund_files_bucket"), kms_key=env.need("data_key"))


def refund_jobs(env: Environment) -> SqsRefundJobQueue:
    from payments.adapters.sqs_refund_jobs import SqsRefundJobQueue  # noqa: PLC0415

    return SqsRefundJobQueue(env.client("sqs"), queue_url=env.need("refund_jobs_queue_url"))


def ops_alerts(env: Environment) -> SnsOpsAlerts:
    from payments.adapters.sns_alerts import SnsOpsAlerts  # noqa: PLC0415

    return SnsOpsAlerts(env.client("sns"), topic_arn=env.need("ops_alerts_topic_arn"))


def event_publisher(env: Environment) -> SnsEventPublisher:
    from payments.adapters.event_topic import SnsEventPublisher  # noqa: PLC0415

    return SnsEventPublisher(env.client("sns"), topic_arn=env.need("payment_events_topic_arn"))


def event_log(env: Environment) -> DynamoDBEventLog:
    from payments.adapters.event_topic import DynamoDBEventLog  # noqa: PLC0415

    return DynamoDBEventLog(dynamodb(env), table=env.need("events_table"))


class Secret:
    """A Secrets Manager secret, read on first use and again once it is older than `max_age`.

    With `otherwise`, a secret that does not exist is that other secret's value instead; its absence is
    kept for `max_age` too (and then asked again), so it costs one call per `max_age`, not per use."""

    def __init__(
        self,
        client: Any,
        secret_id: str,
        *,
        max_age_seconds: float = SECRET_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        otherwise: Callable[[], str] | None = None,
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._max_age = max_age_seconds
        self._clock = clock
        self._otherwise = otherwise
        self._lock = threading.Lock()
        self._value: tuple[str | None, float] | None = None

    def __call__(self) -> str:
        with self._lock:
            if self._value is None or self._clock() - self._value[1] >= self._max_age:
                self._value = (self._read(), self._clock())
            value = self._value[0]
        if value is not None:
            return value
        if self._otherwise is None:  # an absence is kept only when there is another to read
            raise LookupError(f"secret {self._secret_id} does not exist")
        return self._otherwise()

    def _read(self) -> str | None:
        try:
            value: str = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
        except Exception as error:  # botocore's ClientError, read without importing botocore here
            response = getattr(error, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            if self._otherwise is None or code != "ResourceNotFoundException":
                raise
            return None
        return value


def webhook_secret(env: Environment) -> Secret:
    """The gateway's webhook signing secret."""
    return Secret(env.client("secretsmanager"), env.need("webhook_secret_arn"))


def stripe_webhook_secret(env: Environment) -> Secret:
    """The signing secret (`whsec_...`) of Stripe's webhook endpoint for this stack."""
    return Secret(env.client("secretsmanager"), env.need("stripe_webhook_secret_arn"))


def webhook_endpoints(env: Environment) -> DynamoDBWebhookEndpoints:
    """Merchants' webhook endpoints (the routes, and the delivery functions that read them)."""
    from payments.adapters.dynamodb_webhook_endpoints import DynamoDBWebhookEndpoints  # noqa: PLC0415

    return DynamoDBWebhookEndpoints(dynamodb(env), table=env.need("webhook_endpoints_table"))


def webhook_secrets(env: Environment) -> SecretsManagerWebhookSecrets:
    """Endpoints' signing secrets (`<WEBHOOK_SECRETS_PREFIX><webhookEndpointId>`), each kept by the
    adapter for 60 s. Only a function creating secrets needs DATA_KEY (they are encrypted with it)."""
    from payments.adapters.secretsmanager_webhook_secrets import (  # noqa: PLC0415
        SecretsManagerWebhookSecrets,
    )

    return SecretsManagerWebhookSecrets(
        env.client("secretsmanager"),
        prefix=env.need("webhook_secrets_prefix"),
        kms_key=env.settings.data_key or None,
    )


def function_caller(env: Environment) -> LambdaFunctionCaller:
    from payments.adapters.deployment_hooks import LambdaFunctionCaller  # noqa: PLC0415

    return LambdaFunctionCaller(env.client("lambda"))


def lifecycle_hooks(env: Environment) -> CodeDeployLifecycleHooks:
    from payments.adapters.deployment_hooks import CodeDeployLifecycleHooks  # noqa: PLC0415

    return CodeDeployLifecycleHooks(env.client("codedeploy"))


def canary_targets(env: Environment) -> CanaryTargets:
    from payments.service.canary import CanaryTargets  # noqa: PLC0415

    return CanaryTargets(
        create_intent=env.need("canary_create_intent_function"),
        authorize=env.need("canary_authorize_function"),
        void=env.need("canary_void_function"),
        start_checkout=env.need("canary_start_checkout_function"),
        get_checkout=env.need("canary_get_checkout_function"),
    )


def settlement_files(env: Environment) -> S3FileStore:
    from payments.adapters.s3_files import S3FileStore  # noqa: PLC0415

    return S3FileStore(env.client("s3"), bucket=env.need("settlements_bucket"), kms_key=env.need("data_key"))


def payment_directory(env: Environment) -> DynamoDBPaymentDirectory:
    from payments.adapters.dynamodb_settlements import DynamoDBPaymentDirectory  # noqa: PLC0415

    return DynamoDBPaymentDirectory(dynamodb(env), intents_table=env.need("intents_table"))


def settlement_books(env: Environment) -> DynamoDBSettlementBooks:
    from payments.adapters.dynamodb_settlements import DynamoDBSettlementBooks  # noqa: PLC0415

    return DynamoDBSettlementBooks(
        dynamodb(env), ledger_table=env.need("ledger_table"), settlements_table=env.need("settlements_table")
    )


def settlement_reports(env: Environment) -> DynamoDBSettlementReports:
    from payments.adapters.dynamodb_settlements import DynamoDBSettlementReports  # noqa: PLC0415

    return DynamoDBSettlementReports(dynamodb(env), table=env.need("settlements_table"))


# -- merchant webhooks: events, deliveries, their queue and the sender ---------------------------------


def webhook_events(env: Environment) -> DynamoDBWebhookEvents:
    from payments.adapters.dynamodb_webhook_deliveries import DynamoDBWebhookEvents  # noqa: PLC0415

    return DynamoDBWebhookEvents(dynamodb(env), table=env.need("webhook_events_table"))


def webhook_deliveries(env: Environment) -> DynamoDBWebhookDeliveries:
    from payments.adapters.dynamodb_webhook_deliveries import DynamoDBWebhookDeliveries  # noqa: PLC0415

    return DynamoDBWebhookDeliveries(dynamodb(env), table=env.need("webhook_deliveries_table"))


def webhook_queue(env: Environment) -> SqsWebhookQueue:
    from payments.adapters.sqs_webhook_queue import SqsWebhookQueue  # noqa: PLC0415

    return SqsWebhookQueue(env.client("sqs"), queue_url=env.need("webhook_deliveries_queue_url"))


def webhook_event_queue(env: Environment) -> SqsWebhookEventQueue:
    """Outcome events (checkouts, refund batches) to the dispatcher, on the webhook-events queue."""
    from payments.adapters.sqs_webhook_events import SqsWebhookEventQueue  # noqa: PLC0415

    return SqsWebhookEventQueue(env.client("sqs"), queue_url=env.need("webhook_events_queue_url"))


def webhook_sender(env: Environment) -> UrllibWebhookSender:
    """Deliveries over HTTP(S): loopback receivers only where the stack allows them (locally)."""
    from payments.adapters.http_webhook_sender import UrllibWebhookSender  # noqa: PLC0415

    return UrllibWebhookSender(
        timeout_seconds=env.settings.webhook_timeout_seconds,
        allow_loopback=env.settings.webhook_allow_loopback == "true",
    )
