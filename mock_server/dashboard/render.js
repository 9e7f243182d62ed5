// Builders of the page's pieces from the control plane's answers. Every value goes in as text
// (a node's textContent, an attribute's value), never as HTML.

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    else if (name === "style") Object.assign(node.style, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const pill = (text) => el("span", { class: "pill " + text }, text);

export function duration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const days = Math.floor(seconds / 86400);
  const rest = new Date((seconds % 86400) * 1000).toISOString().slice(11, 19);
  return days ? days + " d " + rest : rest;
}

export function party(p, label) {
  return el("td", { "data-label": label },
    el("span", { class: "mono" }, p.numbers.join(", ")),
    el("small", {}, "VN " + p.vns.join(", ")),
    p.pins.length ? el("small", {}, "PIN " + p.pins.join(", ")) : null);
}

// A leg as it stands at `elapsed` seconds into its call, on the mock's clock: how it ended,
// talking once answered, ringing before (the control plane's `state` says the same).
function legState(leg, elapsed) {
  if (leg.status) return pill(leg.status);
  return leg.answer_offset !== null && leg.answer_offset <= elapsed ? pill("talking") : "ringing…";
}

// A URL as the page shows it: a password in it masked (`http://user:•••@host/`).
export function masked(url) {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#]*@/i, "$1•••@");
}

// The legs of a call on a time line; `elapsed`, seconds since the call started on the mock's clock.
export function timeline(call, elapsed) {
  const end = Math.max(1, call.duration || 0, call.ended_at ? 0 : elapsed,
    ...call.legs.map((l) => l.end_offset || l.answer_offset || l.start_offset));
  const pct = (t) => (100 * t / end).toFixed(2) + "%";
  return el("div", { class: "timeline", "aria-label": "legs" }, call.legs.map((leg) => {
    const answered = leg.answer_offset;
    const stop = leg.end_offset ?? end;
    return el("div", { class: "leg" },
      el("span", {}, `Leg ${leg.leg_number} `, el("span", { class: "mono" }, leg.contact), " ", legState(leg, elapsed)),
      el("div", { class: "track", title: `starts +${leg.start_offset}s, answered ${answered === null ? "never" : "+" + answered + "s"}, ends ${leg.end_offset === null ? "—" : "+" + leg.end_offset + "s"}` },
        el("span", { class: "ring", style: { left: pct(leg.start_offset), width: pct((answered ?? stop) - leg.start_offset) } }),
        answered === null ? null : el("span", { class: "talk", style: { left: pct(answered), width: pct(stop - answered) } })));
  }));
}

export function attemptRow(attempt) {
  const result = attempt.error ? el("span", { class: "failed" }, attempt.error) : `HTTP ${attempt.status_code}`;
  return el("tr", {}, el("td", {}, attempt.number), el("td", {}, attempt.at), el("td", {}, result), el("td", {}, attempt.elapsed_ms + " ms"));
}

export function deliveryBody(d) {
  return el("div", { class: "delivery-body" },
    el("p", { class: "small" }, `to ${d.url ? masked(d.url) : "(no URL configured: not sent)"} · logged ${d.created_at}`,
      d.redelivery_of ? ` · redelivery of ${d.redelivery_of}` : ""),
    d.attempts.length
      ? el("table", { class: "attempts" }, el("thead", {}, el("tr", {}, ["#", "time", "status or error", "latency"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, d.attempts.map(attemptRow)))
      : el("p", { class: "muted" }, "No attempt yet."),
    el("p", { class: "verdict " + (d.schema_errors ? "bad" : "ok") },
      d.schema_errors ? "Breaks its schema: " + d.schema_errors : `Valid against ${d.event}.schema.json`),
    el("pre", { class: "payload" }, JSON.stringify(d.payload, null, 2)));
}
