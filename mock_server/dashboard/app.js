// The exomock dashboard: polls the control plane every second and renders what the mock holds.
// Plain DOM, no framework: every value goes in as text (render.js), never as HTML.
import { api } from "./control.js";
import { $, attemptRow, deliveryBody, duration, el, party, pill, timeline } from "./render.js";

const POLL_MS = 1000;

const view = {
  tab: "allocations",
  tenant: null,
  overview: null,
  pages: { allocations: 1, calls: 1, callbacks: 1 },
  totals: { allocations: 0, calls: 0, callbacks: 0 },
  pageSize: 50,
  clockAt: 0, // performance.now() when the clock was read
  clockEpoch: 0, // the mock's time then
  seen: {}, // the last answer rendered, per view: unchanged answers leave the page alone
  firstData: false,
};

// -- small helpers ----------------------------------------------------------------------------

function say(message, isError = false) {
  const status = $("#status");
  status.textContent = message;
  status.className = isError ? "error" : "";
}

function mockNow() {
  return view.clockEpoch + (performance.now() - view.clockAt) / 1000;
}

function setClock(clock) {
  view.clockEpoch = clock.epoch_seconds;
  view.clockAt = performance.now();
  $("#clock-now").textContent = clock.now;
  $("#clock-now").setAttribute("datetime", clock.now);
  const offset = clock.offset_seconds;
  $("#clock-offset").textContent = offset ? "(+" + duration(offset) + " ahead of real time)" : "(real time)";
}

function countdowns() {
  const now = mockNow();
  for (const cell of document.querySelectorAll("[data-deadline]")) {
    const left = Number(cell.dataset.deadline) - now;
    cell.textContent = left > 0 ? "in " + duration(left) : "due now";
  }
}

function pager(name, total) {
  const box = $(`[data-pager="${name}"]`);
  const page = view.pages[name];
  const last = Math.max(1, Math.ceil(total / view.pageSize));
  const first = total ? (page - 1) * view.pageSize + 1 : 0;
  const shown = Math.min(page * view.pageSize, total);
  const go = (to) => () => { view.pages[name] = to; refresh(); };
  box.replaceChildren(
    el("button", { type: "button", class: "secondary", disabled: page <= 1, onclick: go(page - 1), id: `${name}-newer` }, "Newer"),
    el("span", {}, `${first.toLocaleString()}–${shown.toLocaleString()} of ${total.toLocaleString()}`),
    el("button", { type: "button", class: "secondary", disabled: page >= last, onclick: go(page + 1), id: `${name}-older` }, "Older"));
}

function changed(name, answer) {
  const text = JSON.stringify(answer);
  if (view.seen[name] === text) return false;
  view.seen[name] = text;
  return true;
}

// Puts `items` in `list` in order, moving only the nodes out of place: a node left where it is
// keeps the keyboard focus and the caret of a field in it.
function place(list, items) {
  items.forEach((item, index) => {
    const here = list.children[index];
    if (here !== item) list.insertBefore(item, here || null);
  });
  while (list.children.length > items.length) list.lastElementChild.remove();
}

// Runs a re-render and, should it take the focus from a field (or a pager's button) the user is
// in, puts the focus (and the caret) back there, or in what took its place (the same id).
function keepingFocus(render) {
  const field = document.activeElement;
  const held = field && field.matches("input, textarea, select, .pager button") ? field : null;
  let caret = null;
  try { caret = held ? [held.selectionStart, held.selectionEnd] : null; } catch (_) { caret = null; }
  render();
  if (!held || document.activeElement === held) return;
  const back = held.isConnected ? held : (held.id && document.getElementById(held.id));
  if (!back) return;
  back.focus({ preventScroll: true });
  if (caret && caret[0] !== null) {
    try { back.setSelectionRange(caret[0], caret[1]); } catch (_) { /* not a text field */ }
  }
}

// -- the views --------------------------------------------------------------------------------

function renderOverview(overview) {
  view.overview = overview;
  setClock(overview.clock);
  const select = $("#tenant");
  if (!select.options.length) {
    for (const t of overview.tenants) select.append(el("option", { value: t.tenant_id }, t.tenant_id));
    view.tenant = select.value;
    fillForms();
  }
  const tenant = overview.tenants.find((t) => t.tenant_id === view.tenant);
  if (tenant) {
    $("#counts").textContent = `${tenant.active.toLocaleString()} active, ${tenant.vault.toLocaleString()} in the vault, ${tenant.calls} call${tenant.calls === 1 ? "" : "s"}`;
  }
  const c = overview.callbacks;
  $("#delivery-summary").textContent =
    `${c.delivered} delivered, ${c.failed} failed, ${c.pending} pending (${c.in_flight} in flight, ${c.queued} queued), ${c.not_sent} not sent`;
}

function fillForms() {
  const tenant = view.overview.tenants.find((t) => t.tenant_id === view.tenant);
  const vns = $("#incoming-form [name=vn]");
  vns.replaceChildren(...tenant.vns.map((vn) => el("option", { value: vn }, vn)));
  const events = view.overview.events;
  // Only the events a receiver gets as a POST: not the Connect applet's GET nor its answer.
  $("#fake-form [name=event]").replaceChildren(...view.overview.posted_events.map((e) => el("option", { value: e }, e)));
  const filter = $("#event-filter");
  filter.replaceChildren(el("option", { value: "" }, "any"), ...events.map((e) => el("option", { value: e }, e)));
  $("#curl-example").textContent =
    `curl -u <api_key>:<api_token> -H 'content-type: application/json' \\\n` +
    `  -d '{"transaction_id":"order-1","a":{"numbers":["7987686144"],"vns":["${tenant.vns[0]}"],"pin_length":"3"},"b":{"numbers":["9956555625"],"vns":["${tenant.vns[0]}"]}}' \\\n` +
    `  ${location.origin}/v1/tenants/${view.tenant}/greenpin`;
}

function renderAllocations(answer) {
  setClock(answer.clock);
  view.totals.allocations = answer.total;
  const searching = $("#search").value || $("#state-filter").value;
  $("#allocations-empty").hidden = answer.total > 0 || Boolean(searching);
  $("#allocations-table-box").hidden = answer.total === 0 && !searching;
  $("#allocations-caption").textContent = searching && !answer.total
    ? "Nothing matches the search." : `Allocations of ${answer.tenant_id}, newest first`;
  $("#allocations-table tbody").replaceChildren(...answer.allocations.map((a) => el("tr", { "data-id": a.id },
    el("td", { "data-label": "Transaction" }, el("span", { class: "mono" }, a.ref), el("small", {}, `${a.kind} ${a.id} · ${a.usage}`)),
    el("td", { "data-label": "State" }, pill(a.state)),
    party(a.a, "A party"), party(a.b, "B party"),
    el("td", { "data-label": "Deallocation" }, a.deallocation_time,
      a.state === "active" ? el("small", { "data-deadline": a.deallocation_epoch }) : el("small", {}, "ended")))));
  pager("allocations", answer.total);
  countdowns();
  if (!view.firstData) {
    view.firstData = true;
    performance.mark("exomock-first-data");
    document.body.dataset.firstData = "1";
  }
}

function renderCalls(answer) {
  view.totals.calls = answer.total;
  $("#calls-empty").hidden = answer.total > 0;
  $("#calls-list").replaceChildren(...answer.calls.map((call) => el("li", { class: "card", "data-sid": call.sid },
    el("h3", {}, call.kind === "incoming" ? "Incoming call " : "Click-to-call ", el("span", { class: "mono" }, call.sid)),
    el("p", { class: "muted" }, `${call.from} → ${call.to} via ${call.virtual_number} · started ${call.created_at}`),
    el("p", {}, "State ", pill(call.state), " · status ", call.status ? pill(call.status) : "in progress",
      " · outcome ", call.outcome ? pill(call.outcome) : "—",
      call.connected_to ? ` · connected to ${call.connected_to}` : "",
      call.duration !== null ? ` · ${call.duration} s` : ""),
    timeline(call, mockNow() - Date.parse(call.created_at) / 1000),
    call.callbacks.length
      ? el("p", {}, "Callbacks: ", call.callbacks.map((d) => el("span", { class: "callback-ref" }, d.event, " ", pill(d.outcome), " ")))
      : el("p", { class: "muted" }, "No callbacks."))));
  pager("calls", answer.total);
}

function redeliverForm(d) {
  const input = el("input", { type: "url", name: "url", maxlength: "2048", placeholder: "the same URL", id: "redeliver-" + d.id });
  return el("form", { class: "redeliver", onsubmit: async (event) => {
    event.preventDefault();
    const body = input.value ? { url: input.value } : {};
    try {
      const again = await api("POST", `/_mock/callbacks/${encodeURIComponent(d.id)}/redeliver`, body);
      say(`Redelivering ${d.event} as ${again.id}.`);
      view.pages.callbacks = 1;
      refresh();
    } catch (error) { say("Redeliver refused: " + error.message, true); }
  } }, el("label", { for: input.id }, "Redeliver to (optional)"), input, el("button", { type: "submit" }, "Redeliver"));
}

function renderCallbacks(answer) {
  view.totals.callbacks = answer.total;
  $("#callbacks-empty").hidden = answer.total > 0;
  const list = $("#callbacks-list");
  const kept = new Map([...list.children].map((li) => [li.dataset.id, li]));
  // Each entry keeps its node (open or closed, a URL being typed) and refreshes what changed.
  const items = answer.callbacks.map((d) => {
    let li = kept.get(d.id);
    const text = JSON.stringify(d);
    if (!li) {
      li = el("li", { class: "card delivery", "data-id": d.id },
        el("details", {}, el("summary", {}), el("div", { class: "slot" }), redeliverForm(d)));
    }
    if (li.dataset.seen !== text) {
      li.dataset.seen = text;
      $("summary", li).replaceChildren(el("strong", {}, d.event), " ", pill(d.outcome),
        ` ${d.attempts.length} attempt${d.attempts.length === 1 ? "" : "s"} · ${d.tenant_id} · ${d.created_at}`);
      $(".slot", li).replaceChildren(deliveryBody(d));
    }
    return li;
  });
  place(list, items);
  pager("callbacks", answer.total);
}

// -- polling ----------------------------------------------------------------------------------

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  return search.toString();
}

let polling = false;

async function refresh() {
  if (polling) return;
  polling = true;
  try {
    const overview = await api("GET", "/_mock/overview");
    if (changed("overview", overview)) keepingFocus(() => renderOverview(overview));
    else setClock(overview.clock);
    const tenant = view.tenant;
    const paging = { tenant_id: tenant, page: 0, page_size: view.pageSize };
    if (view.tab === "allocations") {
      const q = query({ ...paging, page: view.pages.allocations, q: $("#search").value.trim(), state: $("#state-filter").value });
      const answer = await api("GET", "/_mock/allocations?" + q);
      const { clock, ...rest } = answer;
      if (changed("allocations", rest)) keepingFocus(() => renderAllocations(answer)); else setClock(clock);
    } else if (view.tab === "calls") {
      const answer = await api("GET", "/_mock/calls?" + query({ ...paging, page: view.pages.calls }));
      if (changed("calls", answer)) keepingFocus(() => renderCalls(answer));
    } else if (view.tab === "callbacks") {
      const q = query({ ...paging, page: view.pages.callbacks, event: $("#event-filter").value, outcome: $("#outcome-filter").value });
      const answer = await api("GET", "/_mock/callbacks/recent?" + q);
      if (changed("callbacks", answer)) keepingFocus(() => renderCallbacks(answer));
    }
  } catch (error) {
    say("Cannot read the mock: " + error.message, true);
  } finally {
    polling = false;
  }
}

// -- controls ---------------------------------------------------------------------------------

function showTab(name, focus = false) {
  view.tab = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.getAttribute("aria-controls") === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
    $("#" + tab.getAttribute("aria-controls")).hidden = !selected;
  }
  history.replaceState(null, "", "#" + name);
  refresh();
}

async function advance(seconds) {
  try {
    const answer = await api("POST", "/_mock/clock/advance", { seconds: Number(seconds) });
    setClock(answer);
    const ended = answer.deallocated;
    say(`Advanced ${duration(Number(seconds))}: ` + (ended.length
      ? `${ended.length} allocation${ended.length === 1 ? "" : "s"} deallocated (${ended.slice(0, 5).join(", ")}${ended.length > 5 ? ", …" : ""}); calls moved on.`
      : "nothing fell due."));
    refresh();
  } catch (error) { say("Advance refused: " + error.message, true); }
}

function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

async function submitIncoming(event) {
  event.preventDefault();
  const form = event.target;
  const raw = formData(form);
  const body = { tenant_id: view.tenant, vn: raw.vn, from: raw.from.trim(), answered: form.answered.checked, busy: form.busy.checked };
  if (raw.digits) body.digits = raw.digits;
  if (raw.talk_seconds) body.talk_seconds = Number(raw.talk_seconds);
  try {
    const call = await api("POST", "/_mock/calls/incoming", body);
    form.result.value = `${call.outcome}: ${call.reason}\nCall ${call.call_sid}; callbacks: ${call.callbacks.join(", ") || "none"}`;
    say(`Call ${call.call_sid}: ${call.outcome}.`);
    refresh();
  } catch (error) { form.result.value = "Refused: " + error.message; }
}

async function submitFake(event) {
  event.preventDefault();
  const form = event.target;
  const raw = formData(form);
  const body = { tenant_id: view.tenant, event: raw.event, url: raw.url.trim() };
  if (raw.seed !== "") body.seed = Number(raw.seed);
  try {
    const sent = await api("POST", "/_mock/callbacks/fake", body);
    form.result.value = `Sending ${sent.event} as ${sent.id}; see Callbacks.`;
  } catch (error) { form.result.value = "Refused: " + error.message; }
}

async function submitReset(event) {
  event.preventDefault();
  const form = event.target;
  try {
    await api("POST", "/_mock/reset", { tenant_id: view.tenant });
    form.confirm.checked = false;
    form.result.value = `Tenant ${view.tenant} reset.`;
    view.pages = { allocations: 1, calls: 1, callbacks: 1 };
    refresh();
  } catch (error) { form.result.value = "Refused: " + error.message; }
}

function wire() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => showTab(tab.getAttribute("aria-controls")));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      showTab(next.getAttribute("aria-controls"), true);
    });
  });
  for (const link of document.querySelectorAll("[data-tab]")) {
    link.addEventListener("click", (event) => { event.preventDefault(); showTab(link.dataset.tab, true); });
  }
  for (const button of document.querySelectorAll("[data-advance]")) {
    button.addEventListener("click", () => advance(button.dataset.advance));
  }
  $("#advance-form").addEventListener("submit", (event) => { event.preventDefault(); advance($("#advance-seconds").value); });
  $("#tenant").addEventListener("change", (event) => {
    view.tenant = event.target.value;
    view.pages = { allocations: 1, calls: 1, callbacks: 1 };
    fillForms();
    renderOverview(view.overview);
    refresh();
  });
  let typing = null;
  $("#search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { view.pages.allocations = 1; refresh(); }, 250);
  });
  $("#search-form").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  for (const id of ["#state-filter", "#event-filter", "#outcome-filter"]) {
    $(id).addEventListener("change", () => { view.pages.allocations = 1; view.pages.callbacks = 1; refresh(); });
  }
  $("#incoming-form").addEventListener("submit", submitIncoming);
  $("#fake-form").addEventListener("submit", submitFake);
  $("#reset-form").addEventListener("submit", submitReset);
}

wire();
const start = location.hash.slice(1);
showTab(["allocations", "calls", "callbacks", "tools"].includes(start) ? start : "allocations");
setInterval(refresh, POLL_MS);
setInterval(countdowns, 1000);
