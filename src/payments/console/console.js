// The operator console: a static page that calls the payments API (and, for what only the local runtime
// knows, its /_local endpoints). `?api=https://...` points it at another stack; nothing else to build.

const API = new URLSearchParams(location.search).get("api") || location.origin;
const page = document.getElementById("page");
document.getElementById("api-base").textContent = `API: ${API}`;
// The merchant API key every /v1 call needs: typed by the operator, kept for this tab only.
const KEY_STORE = "paymentsApiKey";
const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem(KEY_STORE) || "";
keyInput.addEventListener("change", () => {
  sessionStorage.setItem(KEY_STORE, keyInput.value.trim());
  window.dispatchEvent(new HashChangeEvent("hashchange"));
});

const TEST_METHODS = [
  "pm_card_visa", "pm_card_mastercard", "pm_card_declined", "pm_card_insufficient_funds",
  "pm_card_3ds_required", "pm_card_risk_elevated", "pm_card_risk_highest", "pm_card_gateway_flaky",
];
const STATUSES = [
  "PENDING", "AUTHORIZED", "CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED", "VOIDED", "DECLINED", "EXPIRED", "DISPUTED",
];
const ZERO_DECIMAL = new Set(["JPY", "KRW", "VND", "CLP", "ISK", "UGX"]);
let refreshTimer = null;

// -- helpers ---------------------------------------------------------------------------------------

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function money(amount, currency) {
  const digits = ZERO_DECIMAL.has(currency) ? 0 : 2;
  return `${(Number(amount) / 10 ** digits).toFixed(digits)} ${esc(currency)}`;
}

function badge(status) {
  return `<span class="status ${esc(status)}">${esc(status)}</span>`;
}

async function call(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (method === "POST") headers["idempotency-key"] = crypto.randomUUID();
  const key = sessionStorage.getItem(KEY_STORE);
  if (key && path.startsWith("/v1/")) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (response.status === 401 || response.status === 403) {
    data.error = { code: "unauthorized", message: "Enter a valid API key (sk_...) at the top right: the API refused this one." };
  }
  return { status: response.status, ok: response.ok, data };
}

async function get(path) {
  const reply = await call("GET", path);
  if (!reply.ok) throw new Error(reply.data?.error?.message || `GET ${path}: HTTP ${reply.status}`);
  return reply.data;
}

function table(columns, rows, empty = "Nothing yet.") {
  if (!rows.length) return `<p class="muted">${esc(empty)}</p>`;
  const head = columns.map(([title]) => `<th>${esc(title)}</th>`).join("");
  const body = rows.map((row) => `<tr>${columns.map(([, cell]) => `<td>${cell(row)}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function show(html) {
  page.innerHTML = html;
}

function fail(error) {
  show(`<p class="error" data-testid="error">${esc(error.message || error)}</p>`);
}

// -- payments --------------------------------------------------------------------------------------

async function paymentsPage(params) {
  const by = params.get("by") || "id";
  const value = params.get("q") || "";
  const status = params.get("status") || "";
  let results = "";
  if (value) {
    try {
      let intents = [];
      if (by === "id") intents = [await get(`/v1/payment-intents/${encodeURIComponent(value)}`)];
      else intents = (await get(`/v1/customers/${encodeURIComponent(value)}/payment-intents?limit=100`)).data;
      if (status) intents = intents.filter((intent) => intent.status === status);
      results = table(
        [
          ["payment", (i) => `<a href="#/payments/${esc(i.paymentIntentId)}">${esc(i.paymentIntentId)}</a>`],
          ["status", (i) => badge(i.status)],
          ["amount", (i) => money(i.amount, i.currency)],
          ["customer", (i) => esc(i.customerId)],
          ["created", (i) => esc(i.createdAt)],
        ],
        intents,
        "No payment matches.",
      );
    } catch (error) {
      results = `<p class="error">${esc(error.message)}</p>`;
    }
  }
  show(`
    <h1>Payments</h1>
    <form id="search">
      <label>Search by <select name="by">
        <option value="id" ${by === "id" ? "selected" : ""}>payment id</option>
        <option value="customer" ${by === "customer" ? "selected" : ""}>customer id</option></select></label>
      <label>Value <input name="q" value="${esc(value)}" size="34" required></label>
      <label>Status <select name="status"><option value="">any</option>
        ${STATUSES.map((s) => `<option ${s === status ? "selected" : ""}>${s}</option>`).join("")}</select></label>
      <button class="primary">Search</button>
    </form>
    <div data-testid="results">${results}</div>
    <h2>New sandbox payment</h2>
    <form id="create">
      <label>Amount (minor units) <input name="amount" type="number" min="1" value="2500" required></label>
      <label>Currency <select name="currency"><option>USD</option><option>EUR</option><option>MXN</option><option>JPY</option></select></label>
      <label>Customer <input name="customerId" value="cus_console" required></label>
      <label>Merchant <input name="merchantId" value="mer_console" required></label>
      <label>Payment method <select name="paymentMethod">${TEST_METHODS.map((m) => `<option>${m}</option>`).join("")}</select></label>
      <label>Receipt email <input name="receiptEmail" type="email" placeholder="optional"></label>
      <button class="primary" data-testid="create-payment">Create</button>
    </form>
    <p class="error" id="create-error"></p>`);
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    location.hash = `#/payments?${new URLSearchParams(form)}`;
  });
  document.getElementById("create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.target));
    const body = { ...form, amount: Number(form.amount) };
    if (!body.receiptEmail) delete body.receiptEmail;
    const reply = await call("POST", "/v1/payment-intents", body);
    if (!reply.ok) document.getElementById("create-error").textContent = reply.data?.error?.message;
    else location.hash = `#/payments/${reply.data.paymentIntentId}`;
  });
}

async function paymentPage(id) {
  const [intent, ledger, events] = await Promise.all([
    get(`/v1/payment-intents/${encodeURIComponent(id)}`),
    get(`/v1/payment-intents/${encodeURIComponent(id)}/ledger`).catch(() => ({ data: [] })),
    get(`/v1/events?paymentIntentId=${encodeURIComponent(id)}`).catch(() => ({ data: [] })),
  ]);
  const checkouts = JSON.parse(sessionStorage.getItem(`checkouts:${id}`) || "[]");
  const history = (events.data || []).map((e) => ({ at: e.occurredAt || e.createdAt, type: e.eventType, amount: e.amount, currency: e.currency }));
  show(`
    <h1>Payment <code data-testid="payment-id">${esc(intent.paymentIntentId)}</code> ${badge(intent.status)}</h1>
    <table><tbody>
      <tr><th>amount</th><td>${money(intent.amount, intent.currency)}</td><th>customer</th><td>${esc(intent.customerId)}</td></tr>
      <tr><th>captured</th><td>${money(intent.amountCaptured ?? 0, intent.currency)}</td><th>refunded</th><td>${money(intent.amountRefunded ?? 0, intent.currency)}</td></tr>
      <tr><th>payment method</th><td>${esc(intent.paymentMethod)}</td><th>receipt</th><td>${esc(intent.receiptStatus)}</td></tr>
      <tr><th>created</th><td>${esc(intent.createdAt)}</td><th>expires</th><td>${esc(intent.expiresAt)}</td></tr>
      <tr><th>processor</th><td data-testid="processor">${esc(intent.processor)}</td><th>merchant</th><td>${esc(intent.merchantId)}</td></tr>
    </tbody></table>
    <div class="actions">
      <button data-testid="start-checkout" ${intent.status === "PENDING" ? "" : "disabled"}>Start checkout</button>
      <button data-testid="capture" ${intent.status === "AUTHORIZED" ? "" : "disabled"}>Capture</button>
      <button data-testid="void" ${intent.status === "AUTHORIZED" ? "" : "disabled"}>Void</button>
    </div>
    <p class="error" id="action-error"></p>
    ${checkouts.length ? `<h2>Checkouts</h2><ul>${checkouts.map((t) => `<li><a href="#/checkouts/${esc(t)}">${esc(t)}</a></li>`).join("")}</ul>` : ""}
    <h2>Status history (events)</h2>
    ${table([["when", (e) => esc(e.at)], ["event", (e) => badge(e.type)], ["amount", (e) => (e.amount === undefined ? "" : money(e.amount, e.currency))]], history, "No events yet.")}
    <h2>Ledger entries</h2>
    ${table(
      [
        ["when", (e) => esc(e.createdAt)],
        ["kind", (e) => esc(e.kind)],
        ["legs", (e) => e.legs.map((l) => `${esc(l.direction)} ${esc(l.account)} ${money(l.amount, l.currency)}`).join("<br>")],
      ],
      ledger.data || [],
      "No ledger entries yet.",
    )}`);
  const act = async (path, body) => {
    const reply = await call("POST", path, body);
    if (!reply.ok) document.getElementById("action-error").textContent = reply.data?.error?.message;
    return reply;
  };
  document.querySelector("[data-testid=start-checkout]").addEventListener("click", async () => {
    const reply = await act("/v1/checkouts", { paymentIntentId: id });
    if (reply.ok) {
      sessionStorage.setItem(`checkouts:${id}`, JSON.stringify([...checkouts, reply.data.trackingId]));
      location.hash = `#/checkouts/${reply.data.trackingId}`;
    }
  });
  document.querySelector("[data-testid=capture]").addEventListener("click", async () => (await act(`/v1/payment-intents/${id}/capture`, {})).ok && route());
  document.querySelector("[data-testid=void]").addEventListener("click", async () => (await act(`/v1/payment-intents/${id}/void`)).ok && route());
}

// -- checkouts: the execution on its workflow -------------------------------------------------------

function layout(view) {
  // Levels by shortest distance from the start; states never reachable go last.
  const level = { [view.startAt]: 0 };
  const queue = [view.startAt];
  const byName = Object.fromEntries(view.states.map((s) => [s.name, s]));
  while (queue.length) {
    const name = queue.shift();
    for (const next of byName[name]?.next || []) {
      if (!(next in level)) {
        level[next] = level[name] + 1;
        queue.push(next);
      }
    }
  }
  const rows = [];
  for (const state of view.states) (rows[level[state.name] ?? rows.length] ||= []).push(state);
  return rows.filter(Boolean);
}

function graph(view) {
  const W = 190, H = 46, GX = 30, GY = 40;
  const rows = layout(view);
  const width = Math.max(...rows.map((r) => r.length)) * (W + GX) + GX;
  const pos = {};
  rows.forEach((row, y) => row.forEach((state, x) => {
    const offset = (width - row.length * (W + GX) + GX) / 2;
    pos[state.name] = { x: offset + x * (W + GX), y: GY / 2 + y * (H + GY) };
  }));
  const height = rows.length * (H + GY) + GY / 2;
  const edges = view.states.flatMap((s) => s.next.filter((n) => pos[n]).map((n) => {
    const a = pos[s.name], b = pos[n];
    return `<path class="edge" d="M${a.x + W / 2},${a.y + H} L${b.x + W / 2},${b.y}"/>`;
  }));
  const nodes = view.states.map((s) => {
    const p = pos[s.name];
    const inner = s.branches ? ` (${s.branches.map((b) => b.map((t) => `${t.name}: ${t.outcome}`).join(", ")).join(" | ")})` : "";
    return `<g class="node ${esc(s.outcome)}" data-state="${esc(s.name)}" data-outcome="${esc(s.outcome)}">
      <title>${esc(s.name)}: ${esc(s.outcome)}${esc(inner)}</title>
      <rect x="${p.x}" y="${p.y}" width="${W}" height="${H}"/>
      <text x="${p.x + 8}" y="${p.y + 19}">${esc(s.name)}</text>
      <text class="type" x="${p.x + 8}" y="${p.y + 36}">${esc(s.type)} · ${esc(s.outcome.replace("_", " "))}</text></g>`;
  });
  return `<svg data-testid="workflow" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
    <path d="M0,0 L10,5 L0,10 z" fill="#98a2b3"/></marker></defs>${edges.join("")}${nodes.join("")}</svg>`;
}

async function checkoutPage(trackingId) {
  const [checkout, view] = await Promise.all([
    get(`/v1/checkouts/${encodeURIComponent(trackingId)}`),
    get(`/_local/executions/${encodeURIComponent(trackingId)}`).catch(() => null),
  ]);
  const waiting = checkout.status === "ACTION_REQUIRED";
  show(`
    <h1>Checkout <code>${esc(trackingId)}</code> <span data-testid="checkout-status">${badge(checkout.status)}</span></h1>
    <p>Payment <a href="#/payments/${esc(checkout.paymentIntentId)}">${esc(checkout.paymentIntentId)}</a> ${badge(checkout.paymentStatus)}
      ${checkout.error ? `<span class="error" data-testid="checkout-error">${esc(checkout.error.code)}: ${esc(checkout.error.message)}</span>` : ""}</p>
    ${waiting ? `<div class="actions"><strong>3-D Secure challenge:</strong>
      <button class="primary" data-testid="challenge-passed">Customer passed</button>
      <button data-testid="challenge-failed">Customer failed</button></div>` : ""}
    <h2>Workflow</h2>
    <p class="legend muted"><span>green: done</span><span>blue: running now</span><span>red: failed</span><span>orange: raised, handled by a Catch</span><span>grey: not reached</span></p>
    ${view ? graph(view) : `<p class="muted">The execution is not available.</p>`}
    ${view?.failedStates.length ? `<p class="error" data-testid="failed-states">Failed in: ${view.failedStates.map(esc).join(", ")}</p>` : ""}`);
  for (const outcome of ["passed", "failed"]) {
    document.querySelector(`[data-testid=challenge-${outcome}]`)?.addEventListener("click", async () => {
      await call("POST", `/v1/checkouts/${trackingId}/challenge`, { outcome });
      setTimeout(route, 300);
    });
  }
  if (checkout.status === "RUNNING") refreshTimer = setTimeout(route, 700);
}

// -- queues, emails, notifications, ledger, settlements ---------------------------------------------

async function queuesPage() {
  const { data } = await get("/_local/queues");
  // Every dead-letter queue, a queue's or a function's: redrivesTo names where its messages go back.
  const redrivable = (q) => (q.redrivesTo || []).length > 0;
  show(`<h1>Queues</h1>
    ${table(
      [
        ["queue", (q) => esc(q.name)],
        ["waiting", (q) => `<span data-testid="depth-${esc(q.name)}">${q.visible}</span>`],
        ["in flight", (q) => q.inFlight],
        ["dead letters go to", (q) => esc(q.deadLetterTarget || "")],
        ["a redrive sends them to", (q) => esc((q.redrivesTo || []).join(", "))],
        ["", (q) => (redrivable(q) ? `<button data-redrive="${esc(q.name)}" ${q.visible ? "" : "disabled"}>Redrive</button>` : "")],
      ],
      data,
    )}
    <p id="redrive-result" data-testid="redrive-result"></p>`);
  for (const button of document.querySelectorAll("[data-redrive]")) {
    button.addEventListener("click", async () => {
      const reply = await call("POST", "/_local/queues/redrive", { queue: button.dataset.redrive });
      await queuesPage();
      const left = reply.ok && reply.data.left ? ` ${reply.data.left} left: no function of the queue was named by the event.` : "";
      document.getElementById("redrive-result").textContent = reply.ok
        ? `Moved ${reply.data.moved} message(s) from ${reply.data.queue} back to ${reply.data.movedTo}.${left}`
        : reply.data?.error?.message;
    });
  }
}

async function emailsPage() {
  const { data } = await get("/_local/emails");
  show(`<h1>Emails sent</h1>${data.length ? "" : '<p class="muted">No email sent yet.</p>'}
    <div class="cards">${data.slice().reverse().map((m) => `<div class="card" data-testid="email">
      <strong>${esc(m.subject)}</strong><br><span class="muted">to ${esc(m.to.join(", "))} · ${esc(m.template)} · ${esc(m.locale)}</span>
      ${m.html ? `<iframe sandbox="" srcdoc="${esc(m.html)}" title="${esc(m.subject)}"></iframe>` : `<pre>${esc(m.text)}</pre>`}
    </div>`).join("")}</div>`);
}

async function notificationsPage() {
  const { data } = await get("/_local/notifications");
  show(`<h1>Ops notifications</h1>${table(
    [["message", (n) => esc(n.text)], ["details", (n) => `<pre>${esc((n.blocks || []).map((b) => b.text?.text).join("\n"))}</pre>`]],
    data.slice().reverse(),
    "No notification yet.",
  )}`);
}

async function ledgerPage() {
  const { data } = await get("/v1/ledger/balances");
  const currencies = [...new Set(data.map((b) => b.currency))].sort();
  show(`<h1>Ledger balances</h1>${currencies.map((currency) => {
    const rows = data.filter((b) => b.currency === currency);
    const sum = rows.reduce((total, b) => total + Number(b.balance), 0);
    return `<h2>${esc(currency)} <span class="muted" data-testid="sum-${esc(currency)}">sum ${sum} (debits minus credits: always 0)</span></h2>
      ${table([["account", (b) => esc(b.account)], ["balance", (b) => `<span class="num">${money(b.balance, currency)}</span>`]], rows)}`;
  }).join("") || '<p class="muted">No postings yet.</p>'}`);
}

async function settlementsPage() {
  const { data } = await get("/v1/settlements/reports");
  show(`<h1>Settlement reports</h1>${table(
    [
      ["file", (r) => esc(r.settlementKey)],
      ["status", (r) => badge(r.status)],
      ["rows", (r) => r.rows],
      ["matched", (r) => r.matched],
      ["missing in ledger", (r) => r.missingInLedger],
      ["missing in settlement", (r) => r.missingInSettlement],
      ["amount mismatches", (r) => r.amountMismatches],
      ["fees", (r) => esc(Object.entries(r.fees || {}).map(([c, f]) => money(f, c)).join(", "))],
    ],
    data,
    "No report yet.",
  )}`);
}

// -- webhook endpoints: each endpoint of a merchant, and the deliveries to one ----------------------

const DELIVERY_COLUMNS = [
  ["event", (d) => `<code data-testid="delivery-${esc(d.eventId)}">${esc(d.eventId)}</code>`],
  ["type", (d) => esc(d.type)],
  ["status", (d) => `<span data-testid="delivery-status-${esc(d.eventId)}">${badge(d.status)}</span>`],
  ["attempts", (d) => d.attempts],
  ["last answer", (d) => (d.lastStatusCode === null ? '<span class="muted">none</span>' : esc(d.lastStatusCode))],
  ["latency", (d) => (d.latencyMs === null ? "" : `${esc(d.latencyMs)} ms`)],
  ["next attempt", (d) => esc(d.nextAttemptAt || "")],
  ["created", (d) => esc(d.createdAt)],
];

async function webhooksPage(endpointId, params) {
  // A platform key (the local stack's) names the merchant; a merchant key may leave it out.
  const merchantId = params.get("merchantId") || "";
  const scope = merchantId ? `merchantId=${encodeURIComponent(merchantId)}` : "";
  let endpoints = "";
  try {
    const { data } = await get(`/v1/webhook-endpoints${scope ? `?${scope}` : ""}`);
    // Only the fields named here are shown: the API never lists a secret, and the page never would.
    endpoints = table(
      [
        ["endpoint", (e) => `<a data-testid="endpoint-${esc(e.webhookEndpointId)}"
          href="#/webhooks/${esc(e.webhookEndpointId)}${scope ? `?${esc(scope)}` : ""}">${esc(e.webhookEndpointId)}</a>`],
        ["url", (e) => `<code>${esc(e.url)}</code>`],
        ["events", (e) => (e.events === null ? '<span class="muted">every type</span>' : e.events.map(esc).join("<br>"))],
        ["enabled", (e) => (e.enabled ? badge("ENABLED") : badge("DISABLED"))],
        ["disabled because", (e) => esc(e.disabledReason || "")],
        ["created", (e) => esc(e.createdAt)],
      ],
      data,
      "No endpoint yet.",
    );
  } catch (error) {
    endpoints = `<p class="error">${esc(error.message)}</p>`;
  }
  show(`<h1>Webhook endpoints</h1>
    <form id="merchant">
      <label>Merchant (a platform key must name one) <input name="merchantId" value="${esc(merchantId)}" size="30"></label>
      <button class="primary">Show</button>
    </form>
    <div data-testid="endpoints">${endpoints}</div>
    ${endpointId ? `<h2>Deliveries to <code>${esc(endpointId)}</code> <span class="muted">newest first</span></h2>
      <div data-testid="deliveries"></div>
      <div class="actions"><button data-testid="more-deliveries" hidden>More</button></div>` : ""}`);
  document.getElementById("merchant").addEventListener("submit", (event) => {
    event.preventDefault();
    const named = new FormData(event.target).get("merchantId").trim();
    location.hash = `#/webhooks${named ? `?merchantId=${encodeURIComponent(named)}` : ""}`;
  });
  if (endpointId) await deliveriesList(endpointId, merchantId, params.get("limit"));
}

async function deliveriesList(endpointId, merchantId, limit) {
  const list = document.querySelector("[data-testid=deliveries]");
  const more = document.querySelector("[data-testid=more-deliveries]");
  const rows = [];
  let nextToken = null;
  const load = async () => {
    const query = new URLSearchParams();
    if (merchantId) query.set("merchantId", merchantId);
    if (limit) query.set("limit", limit);
    if (nextToken) query.set("nextToken", nextToken);
    more.disabled = true;
    try {
      const found = await get(`/v1/webhook-endpoints/${encodeURIComponent(endpointId)}/deliveries?${query}`);
      rows.push(...found.data);
      nextToken = found.nextToken || null;
      list.innerHTML = table(DELIVERY_COLUMNS, rows, "No delivery yet.");
    } catch (error) {
      nextToken = null;
      list.innerHTML = `<p class="error">${esc(error.message)}</p>`;
    }
    more.disabled = false;
    more.hidden = !nextToken;
  };
  more.addEventListener("click", load);
  await load();
}

// -- routing ---------------------------------------------------------------------------------------

async function route() {
  clearTimeout(refreshTimer);
  const [path, query] = (location.hash.slice(1) || "/payments").split("?");
  const params = new URLSearchParams(query);
  const [, section, id] = path.split("/");
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${section === "checkouts" ? "payments" : section}`);
  }
  try {
    if (section === "payments" && id) await paymentPage(id);
    else if (section === "checkouts" && id) await checkoutPage(id);
    else if (section === "queues") await queuesPage();
    else if (section === "emails") await emailsPage();
    else if (section === "notifications") await notificationsPage();
    else if (section === "ledger") await ledgerPage();
    else if (section === "settlements") await settlementsPage();
    else if (section === "webhooks") await webhooksPage(id, params);
    else await paymentsPage(params);
  } catch (error) {
    fail(error);
  }
}

window.addEventListener("hashchange", route);
route();
