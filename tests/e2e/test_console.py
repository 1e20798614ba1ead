"""The operator console in a real browser (Debian's Chromium, headless, driven by Playwright) against
`payments local up`: a checkout, a 3-D Secure step-up answered from the console, a declined checkout
with its failed state marked, a dead-letter queue redriven with its button, and a merchant's webhook
endpoints with the deliveries to one. Each page is kept as a screenshot in artifacts/screenshots/."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from payments.local.api_key import local_api_key
from tests.e2e.conftest import Api, RunningStack

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Headless, and quiet: without the background-networking flags Chromium keeps calling Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # Debian's Chromium where `make browser` installed it, else the one Playwright installed.
        executable = CHROMIUM if Path(CHROMIUM).exists() else None
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


def _console(page: Page, api: Api, route: str) -> None:
    """Open a page of the console, typing the API key in the first time, as an operator does."""
    page.goto(f"{api.base_url}/console/#{route}")
    if page.input_value("#api-key") != local_api_key():
        page.fill("#api-key", local_api_key())
        page.dispatch_event("#api-key", "change")
        page.reload()  # the page as it first renders with a key (the tab keeps it from now on)


def _create_payment(page: Page, api: Api, method: str, customer: str, amount: int = 2_500) -> str:
    _console(page, api, "/payments")
    page.fill("input[name=amount]", str(amount))
    page.fill("input[name=customerId]", customer)
    page.select_option("select[name=paymentMethod]", method)
    page.click("[data-testid=create-payment]")
    payment_id = page.locator("[data-testid=payment-id]").inner_text()
    assert payment_id.startswith("pi_")
    return payment_id


def _shot(page: Page, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def test_a_payments_page_shows_which_processor_took_it(page: Page, api: Api) -> None:
    payment_id = _create_payment(page, api, "pm_card_visa", "cus_console_processor")
    expect(page.locator("[data-testid=processor]")).to_have_text(api.get_intent(payment_id).body["processor"])
    expect(page.locator("[data-testid=processor]")).to_have_text("sandbox")


def test_a_checkout_from_the_console_succeeds_and_its_workflow_is_drawn(page: Page, api: Api) -> None:
    payment_id = _create_payment(page, api, "pm_card_visa", "cus_console_checkout")
    page.click("[data-testid=start-checkout]")
    expect(page.locator("[data-testid=checkout-status]")).to_have_text("SUCCEEDED")
    for state in ("ValidateIntent", "FraudCheck", "AuthorizeAndRecord", "PublishEvent", "WriteAudit"):
        expect(page.locator(f"g[data-state={state}]")).to_have_attribute("data-outcome", "succeeded")
    expect(page.locator("g[data-state=StepUp]")).to_have_attribute("data-outcome", "not_reached")
    _shot(page, "checkout-succeeded")

    # The payment's page: its status, the AUTHORIZED event and the hold in the ledger.
    page.click(f"a[href='#/payments/{payment_id}']")
    expect(page.locator("h1 .status")).to_have_text("AUTHORIZED")
    expect(page.get_by_text("AUTHORIZED", exact=True).nth(1)).to_be_visible()
    expect(page.locator("text=Ledger entries")).to_be_visible()
    _shot(page, "payment")
    assert api.get_intent(payment_id).body["status"] == "AUTHORIZED"

    # Search by customer, filtered by status, finds it.
    _console(page, api, "/payments?by=customer&q=cus_console_checkout&status=AUTHORIZED")
    expect(page.locator(f"[data-testid=results] a[href='#/payments/{payment_id}']")).to_be_visible()
    _shot(page, "payments-search")


def test_a_step_up_challenge_is_answered_from_the_console(page: Page, api: Api) -> None:
    payment_id = _create_payment(page, api, "pm_card_3ds_required", "cus_console_3ds")
    page.click("[data-testid=start-checkout]")
    expect(page.locator("[data-testid=checkout-status]")).to_have_text("ACTION_REQUIRED")
    expect(page.locator("g[data-state=StepUp]")).to_have_attribute("data-outcome", "running")
    # The issuer's "authentication required" was handled by the step-up: caught, not failed.
    expect(page.locator("g[data-state=AuthorizeAndRecord]")).to_have_attribute("data-outcome", "caught")
    expect(page.locator("[data-testid=failed-states]")).to_have_count(0)
    _shot(page, "checkout-step-up")
    page.click("[data-testid=challenge-passed]")
    expect(page.locator("[data-testid=checkout-status]")).to_have_text("SUCCEEDED")
    expect(page.locator("g[data-state=StepUp]")).to_have_attribute("data-outcome", "succeeded")
    expect(page.locator("g[data-state=AuthorizeAndRecord]")).to_have_attribute("data-outcome", "succeeded")
    _shot(page, "checkout-after-challenge")
    assert api.get_intent(payment_id).body["status"] == "AUTHORIZED"


def test_a_declined_checkout_marks_the_state_that_failed(page: Page, api: Api) -> None:
    _create_payment(page, api, "pm_card_declined", "cus_console_declined")
    page.click("[data-testid=start-checkout]")
    expect(page.locator("[data-testid=checkout-status]")).to_have_text("FAILED")
    expect(page.locator("g[data-state=AuthorizeAndRecord]")).to_have_attribute("data-outcome", "failed")
    expect(page.locator("[data-testid=failed-states]")).to_contain_text("AuthorizeWithGateway")
    expect(page.locator("[data-testid=checkout-error]")).to_contain_text("card_declined")
    _shot(page, "checkout-declined")


def _depth(api: Api, queue: str) -> int:
    (found,) = [q for q in api.request("GET", "/_local/queues").body["data"] if q["name"] == queue]
    return int(found["visible"])


def test_a_dead_letter_queue_is_redriven_with_its_button(page: Page, api: Api, stack: RunningStack) -> None:
    intent_id = api.captured(3_000)
    # The gateway fails every attempt of every delivery: the refund job ends in the dead-letter queue.
    outage = Request(f"{stack.gateway_url}/_sandbox/outage", data=b'{"requests": 9}', method="POST")  # noqa: S310
    with urlopen(outage, timeout=10):  # noqa: S310
        pass
    text = f"merchantId,paymentIntentId,amount,reason\nmer_e2e,{intent_id},3000,\n"
    upload = api.request("POST", "/v1/refund-batches", raw=text.encode(), content_type="text/csv")
    batch_path = f"/v1/refund-batches/{upload.body['batchId']}"
    deadline = time.monotonic() + 60
    while (batch := api.request("GET", batch_path).body)["deadLettered"] == 0:
        assert time.monotonic() < deadline, f"the job never reached the dead-letter queue: {batch}"
        time.sleep(0.2)

    # The worker counts it dead-lettered on its last attempt; SQS moves it once that delivery expires.
    while _depth(api, "refund-jobs-dlq-local.fifo") == 0:
        assert time.monotonic() < deadline, "the job never reached the dead-letter queue"
        time.sleep(0.2)

    _console(page, api, "/queues")
    expect(page.locator("[data-testid='depth-refund-jobs-dlq-local.fifo']")).to_have_text("1")
    _shot(page, "queues-dead-letter")
    page.click("[data-redrive='refund-jobs-dlq-local.fifo']")
    expect(page.locator("[data-testid=redrive-result]")).to_have_text(
        "Moved 1 message(s) from refund-jobs-dlq-local.fifo back to refund-jobs-local.fifo."
    )
    expect(page.locator("[data-testid='depth-refund-jobs-dlq-local.fifo']")).to_have_text("0")
    _shot(page, "queues-redriven")
    deadline = time.monotonic() + 30
    while api.request("GET", batch_path).body["succeeded"] == 0:
        assert time.monotonic() < deadline, "the redriven job never succeeded"
        time.sleep(0.2)
    assert api.get_intent(intent_id).body["amountRefunded"] == 3_000


def _closed_port() -> int:
    """A port nothing listens on: a delivery to it is refused, so it fails and waits for its retry."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_webhooks_page_shows_the_endpoints_and_the_deliveries_to_one(page: Page, api: Api) -> None:
    merchant_id = f"mer_console_wh_{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    made = api.request("POST", "/v1/webhook-endpoints", {"merchantId": merchant_id, "url": url})
    assert made.status == 201, made.body
    hook_id, secret = made.body["webhookEndpointId"], made.body["secret"]
    api.authorized(merchantId=merchant_id)
    api.authorized(merchantId=merchant_id)
    deliveries = f"/v1/webhook-endpoints/{hook_id}/deliveries?merchantId={merchant_id}"
    deadline = time.monotonic() + 60
    # Each payment's delivery tried once and refused: pending, waiting for its retry.
    while not (
        len(listed := api.request("GET", deliveries).body["data"]) == 2
        and all(d["attempts"] >= 1 and d["status"] == "pending" for d in listed)
    ):
        assert time.monotonic() < deadline, f"the deliveries were never tried: {listed}"
        time.sleep(0.2)
    newest, oldest = (d["eventId"] for d in listed)

    _console(page, api, f"/webhooks?merchantId={merchant_id}")
    endpoints = page.locator("[data-testid=endpoints]")
    expect(endpoints).to_contain_text(url)
    expect(endpoints).to_contain_text("every type")
    expect(endpoints).to_contain_text("ENABLED")
    page.click(f"[data-testid='endpoint-{hook_id}']")
    for event_id in (newest, oldest):
        expect(page.locator(f"[data-testid='delivery-status-{event_id}']")).to_have_text("pending")
    expect(page.locator("[data-testid=deliveries] tbody tr").first).to_contain_text("payment.authorized")
    expect(page.locator("[data-testid=deliveries] tbody tr").first).to_contain_text(newest)
    expect(page.locator("[data-testid=more-deliveries]")).to_be_hidden()
    _shot(page, "webhook-deliveries")
    assert secret not in page.content()

    # A page at a time: "More" follows the nextToken to the older delivery.
    _console(page, api, f"/webhooks/{hook_id}?merchantId={merchant_id}&limit=1")
    expect(page.locator(f"[data-testid='delivery-{newest}']")).to_be_visible()
    expect(page.locator(f"[data-testid='delivery-{oldest}']")).to_have_count(0)
    page.click("[data-testid=more-deliveries]")
    expect(page.locator(f"[data-testid='delivery-{oldest}']")).to_be_visible()
    expect(page.locator("[data-testid=deliveries] tbody tr")).to_have_count(2)
    assert secret not in page.content()


def test_the_other_pages_render(page: Page, api: Api) -> None:
    """Emails (rendered), notifications, ledger balances per currency (each summing to zero) and
    settlement reports, after a checkout with a receipt."""
    _console(page, api, "/payments")
    page.fill("input[name=receiptEmail]", "success@simulator.amazonses.com")
    page.fill("input[name=customerId]", "cus_console_receipt")
    page.click("[data-testid=create-payment]")
    page.click("[data-testid=start-checkout]")
    expect(page.locator("[data-testid=checkout-status]")).to_have_text("SUCCEEDED")
    _console(page, api, "/emails")
    expect(page.locator("[data-testid=email]").first).to_be_visible()
    _shot(page, "emails")
    _console(page, api, "/ledger")
    expect(page.locator("[data-testid=sum-USD]")).to_contain_text("sum 0")
    _shot(page, "ledger")
    _console(page, api, "/notifications")
    expect(page.locator("h1")).to_have_text("Ops notifications")
    _shot(page, "notifications")
    _console(page, api, "/settlements")
    expect(page.locator("h1")).to_have_text("Settlement reports")
    _shot(page, "settlements")


def test_without_an_api_key_the_console_asks_for_one(page: Page, api: Api) -> None:
    page.goto(f"{api.base_url}/console/#/ledger")
    expect(page.locator("[data-testid=error]")).to_contain_text("Enter a valid API key")
    page.fill("#api-key", "sk_local_not_a_key")
    page.dispatch_event("#api-key", "change")
    expect(page.locator("[data-testid=error]")).to_contain_text("Enter a valid API key")
    page.fill("#api-key", local_api_key())
    page.dispatch_event("#api-key", "change")
    expect(page.locator("[data-testid=error]")).to_have_count(0)
