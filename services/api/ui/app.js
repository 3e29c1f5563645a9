// Transcode Flow web UI: plain ES module, no build step. Every call goes to this API with
// the key in the X-API-Key header; the key lives in sessionStorage only (never in a URL).
// Live data comes from Server-Sent Events read with fetch (EventSource cannot send headers).

const $ = (sel, root = document) => root.querySelector(sel);
const main = $("#main");
const KEY = "tflow.api_key";
let leave = () => {};  // stops the current view's streams

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function say(text) { $("#status").textContent = text; }

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status; this.code = e.code; this.details = e.details; this.retryAfter = retryAfter;
  }
}

/** A user-facing sentence for every refusal the API can give. */
export function explain(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  if (err.status === 413) return `Too large: ${err.message}`;
  if (err.status === 429) return `Rate limited: try again in ${err.retryAfter || "a few"} s (${err.message})`;
  if (err.status === 401) return "The API key was refused; sign in again.";
  if ([400, 415, 422].includes(err.status)) return `Refused (${err.code}): ${err.message}`;
  return `${err.status} ${err.code || ""}: ${err.message}`;
}

async function api(path, opts = {}) {
  const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "", ...(opts.headers || {}) };
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 204) return null;
  const body = (r.headers.get("content-type") || "").includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, body, r.headers.get("retry-after"));
  return body;
}

/** Read a text/event-stream with fetch; `onEvent(name, data)` per event; abort with `signal`. */
async function sse(path, onEvent, signal) {
  const r = await fetch(path, { headers: { "X-API-Key": sessionStorage.getItem(KEY) || "",
                                           Accept: "text/event-stream" }, signal });
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null), r.headers.get("retry-after"));
  const reader = r.body.getReader(), decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

const clock = (s) => s === null || s === undefined ? "" :
  `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
const when = (t) => t ? new Date(t).toLocaleString() : "";

// --- sign in ------------------------------------------------------------------------
function signIn() {
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true, size: 40 });
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try { await api("/api/v1/jobs?limit=1"); route(); } catch (e) { sessionStorage.removeItem(KEY); err.textContent = explain(e); }
  } }, h("label", { for: "key" }, "API key"), input, h("button", { class: "primary", type: "submit" }, "Sign in"), err);
  main.replaceChildren(h("h2", {}, "Sign in"), h("p", {}, "The key stays in this tab's session storage."), form);
  input.focus();
}

// --- jobs ---------------------------------------------------------------------------
function jobsView(params) {
  const status = h("select", { id: "f-status" }, ["", "pending", "validating", "processing", "completed", "failed",
    "cancelled"].map((s) => h("option", { value: s, selected: params.get("status") === s }, s || "any")));
  const meta = h("input", { id: "f-meta", placeholder: 'key=value', value: params.get("meta") || "" });
  const offset = Number(params.get("offset") || 0), limit = 20;
  const apply = (off) => {
    const q = new URLSearchParams();
    if (status.value) q.set("status", status.value);
    if (meta.value.includes("=")) q.set("meta", meta.value);
    if (off) q.set("offset", off);
    location.hash = `#/jobs?${q}`;
  };
  const body = h("tbody");
  const pager = h("p");
  main.replaceChildren(h("h2", {}, "Jobs"),
    h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); apply(0); } },
      h("label", { for: "f-status" }, "Status"), status, h("label", { for: "f-meta" }, "Metadata"), meta,
      h("button", { type: "submit" }, "Filter")),
    h("table", { id: "jobs" }, h("thead", {}, h("tr", {}, ["File", "Status", "Progress", "Tasks", "ETA", "Priority",
      "Source", "Created", "Finished", ""].map((t) => h("th", { scope: "col" }, t)))), body), pager);
  const q = new URLSearchParams({ limit, offset });
  if (params.get("status")) q.set("status", params.get("status"));
  const m = params.get("meta");
  if (m && m.includes("=")) { const [k, ...v] = m.split("="); q.set("metadata", JSON.stringify({ [k]: v.join("=") })); }
  const ctl = new AbortController();
  leave = () => ctl.abort();
  sse(`/api/v1/jobs/stream?${q}`, (_, page) => {
    body.replaceChildren(...page.jobs.map((j) => jobRow(j, page.tasks[j.job_id] || [])));
    pager.replaceChildren(`${page.total} jobs · page ${page.page} of ${Math.max(1, page.pages)} `,
      offset > 0 ? h("button", { onclick: () => apply(Math.max(0, offset - limit)) }, "Previous") : "",
      offset + limit < page.total ? h("button", { onclick: () => apply(offset + limit) }, "Next") : "");
  }, ctl.signal).catch((e) => { if (e.name !== "AbortError") say(explain(e)); });
}

function jobRow(j, tasks) {
  const terminal = ["completed", "failed", "cancelled", "deleted"].includes(j.status);
  const eta = Math.max(0, ...tasks.filter((t) => t.status === "running").map((t) => t.eta_seconds || 0));
  const name = j.source.original_filename || j.source.key || j.job_id;
  return h("tr", { "data-job": j.job_id },
    h("td", {}, h("a", { href: `#/job/${j.job_id}` }, name)),
    h("td", { class: `status-${j.status}` }, h("span", { class: "status" }, j.status),
      j.error ? h("div", { class: "error reason" }, `${j.error.code}: ${j.error.message}`) : ""),
    h("td", {}, h("progress", { max: 100, value: j.progress_percent, "aria-label": `${name} progress` }),
      ` ${Math.round(j.progress_percent)}%`),
    h("td", { class: "tasks" }, tasks.map((t) => h("span", { title: `${t.name}: ${t.status}` }, t.task, " ",
      h("progress", { max: 100, value: t.progress_percent, "aria-label": `${t.task} ${t.status}` })))),
    h("td", {}, eta && !terminal ? clock(eta) : ""),
    h("td", {}, j.priority),
    h("td", {}, j.source.origin || ""),
    h("td", {}, when(j.created_at)),
    h("td", {}, when(j.completed_at)),
    h("td", {}, terminal ? h("button", { onclick: () => rerun(j.job_id) }, "Re-run")
      : h("button", { class: "cancel", onclick: () => cancel(j.job_id) }, "Cancel")));
}

async function cancel(id) {
  try { await api(`/api/v1/jobs/${id}/cancel`, { method: "POST" }); say(`Cancelled ${id}`); } catch (e) { say(explain(e)); }
}

async function rerun(id) {
  try {
    const r = await api(`/api/v1/admin/jobs/${id}/replay`, { method: "POST", json: { reason: "re-run from the web UI" } });
    say(`Re-running ${id} as epoch ${r.epoch}`);
  } catch (e) { say(e.status === 403 ? "Re-running a job needs the admin key." : explain(e)); }
}

// --- upload -------------------------------------------------------------------------
function uploadView() {
  const files = h("input", { id: "files", type: "file", multiple: true, accept: "video/*,.mkv,.flv,.wmv" });
  const thumb = h("input", { id: "thumb", type: "file", accept: "image/jpeg,image/png,image/webp" });
  const priority = h("input", { id: "priority", type: "number", min: 1, max: 10, value: 5 });
  const metaRows = h("div", { id: "meta-rows" });
  const addMeta = () => metaRows.append(h("div", {}, h("label", {}, "Key", h("input", { class: "mk" })),
    h("label", {}, "Value", h("input", { class: "mv" }))));
  addMeta();
  const list = h("ul", { id: "uploads" });
  const drop = h("div", { class: "drop", id: "drop", tabindex: 0,
    ondragover: (e) => { e.preventDefault(); drop.classList.add("over"); },
    ondragleave: () => drop.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); drop.classList.remove("over"); send([...e.dataTransfer.files]); } },
    "Drop videos here, or choose them: ", files);
  const send = (chosen) => {
    const metadata = {};
    for (const row of metaRows.children) {
      const k = $(".mk", row).value.trim();
      if (k) metadata[k] = $(".mv", row).value;
    }
    for (const f of chosen) uploadOne(f, { metadata, priority: priority.value, thumbnail: thumb.files[0] }, list);
  };
  main.replaceChildren(h("h2", {}, "Upload"), drop,
    h("p", {}, h("label", { for: "thumb" }, "Custom thumbnail (optional)"), thumb,
      h("label", { for: "priority" }, "Priority (1–10)"), priority),
    h("fieldset", {}, h("legend", {}, "Metadata"), metaRows, h("button", { type: "button", onclick: addMeta }, "Add a field")),
    h("button", { class: "primary", id: "send", onclick: () => send([...files.files]) }, "Upload"), list);
}

function uploadOne(file, { metadata, priority, thumbnail }, list) {
  const bar = h("progress", { max: 100, value: 0, "aria-label": `${file.name} upload` });
  const note = h("span", { class: "note" }, " waiting…");
  list.append(h("li", { "data-file": file.name }, `${file.name} `, bar, note));
  const form = new FormData();
  form.append("file", file);
  if (Object.keys(metadata).length) form.append("metadata", JSON.stringify(metadata));
  form.append("priority", priority);
  if (thumbnail) form.append("thumbnail", thumbnail);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/v1/jobs/upload");
  xhr.setRequestHeader("X-API-Key", sessionStorage.getItem(KEY) || "");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 202) {
      bar.value = 100;
      note.replaceChildren(" accepted: ", h("a", { href: `#/job/${body.job_id}` }, body.job_id));
    } else {
      note.className = "note error";
      note.textContent = " " + explain(new ApiError(xhr.status, body, xhr.getResponseHeader("retry-after")));
    }
  };
  xhr.onerror = () => { note.className = "note error"; note.textContent = " network error"; };
  xhr.send(form);
}

// --- one job ------------------------------------------------------------------------
/** Every output of a job document (objects with `url` and `key`), once each, by key. */
function links(doc, out = new Map()) {
  if (Array.isArray(doc)) doc.forEach((d) => links(d, out));
  else if (doc && typeof doc === "object") {
    if (typeof doc.url === "string" && doc.key && !out.has(doc.key)) out.set(doc.key, { key: doc.key, url: doc.url });
    Object.values(doc).forEach((d) => links(d, out));
  }
  return [...out.values()];
}

async function jobView(id, params) {
  const ctl = new AbortController();
  leave = () => ctl.abort();
  let job;
  try { job = await api(`/api/v1/jobs/${id}`); } catch (e) { main.replaceChildren(h("p", { class: "error" }, explain(e))); return; }
  const video = h("video", { id: "player", controls: true, muted: true, playsinline: true, crossorigin: "anonymous" });
  const quality = h("select", { id: "quality", "aria-label": "Quality" }, h("option", { value: -1 }, "Auto"));
  const transcriptBox = h("div", { class: "transcript", id: "transcript", "aria-label": "Transcript" }, "No transcript.");
  const state = h("p", { id: "job-state", class: `status-${job.status}` }, job.status,
    job.error ? h("span", { class: "error", id: "job-error" }, ` — ${job.error.code}: ${job.error.message}`) : "");
  const outputs = links(job.outputs || {});
  const thumbs = outputs.filter((o) => /thumb_\d+\.jpg$/.test(o.key));
  const strip = h("div", { class: "strip", id: "thumbs" }, thumbs.map((t) => {
    const pct = Number(t.key.match(/thumb_(\d+)\.jpg$/)[1]);
    return h("button", { "data-pct": pct, title: `Seek to ${pct}%`,
      onclick: () => { video.currentTime = Math.min((pct / 100) * (video.duration || job.video_info?.duration || 0),
                                                    (video.duration || 1) - 0.1); } },
      h("img", { src: t.url, alt: `Frame at ${pct}%` }));
  }));
  const quality_rows = Object.entries(job.quality_metrics || {}).map(([r, q]) =>
    h("tr", {}, h("td", {}, r), h("td", {}, q.psnr ?? ""), h("td", {}, q.ssim ?? ""), h("td", {}, q.vmaf ?? "n/a")));
  const timeline = h("ol", { id: "timeline" });
  main.replaceChildren(h("h2", {}, job.source.original_filename || id), state,
    h("div", { class: "player" }, h("div", {}, video, h("p", {}, quality), strip),
      h("section", {}, h("h3", {}, "Transcript"), transcriptBox)),
    h("h3", {}, "Downloads"), h("ul", { id: "downloads" }, outputs.map((o) =>
      h("li", {}, h("a", { href: o.url, download: "" }, o.key.split("/").slice(2).join("/"))))),
    h("h3", {}, "Video"), h("dl", { class: "kv" }, Object.entries(job.video_info || {}).flatMap(([k, v]) =>
      [h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])),
    h("h3", {}, "Tasks"), h("table", { id: "tasks" }, h("thead", {}, h("tr", {}, ["Task", "Status", "Seconds",
      "Attempts", "Error"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, job.tasks.map((t) =>
      h("tr", {}, h("td", {}, t.name), h("td", {}, t.status), h("td", {}, t.duration_seconds ?? ""),
        h("td", {}, t.attempts ?? ""), h("td", { class: "error" }, t.error ? t.error.message : ""))))),
    h("h3", {}, "Quality"), h("table", {}, h("thead", {}, h("tr", {}, ["Rendition", "PSNR (dB)", "SSIM", "VMAF"]
      .map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, quality_rows)),
    h("h3", {}, "Timeline"), timeline);
  api(`/api/v1/jobs/${id}/timeline`).then((t) => timeline.replaceChildren(...t.facts.map((f) =>
    h("li", {}, h("time", { datetime: f.at }, when(f.at)), ` ${f.type}${f.task ? " " + f.task : ""}: ${f.summary}`))))
    .catch(() => {});
  if (job.status === "completed") {
    const start = Number(params.get("t") || 0);
    play(video, quality, id, start).catch((e) => say(explain(e)));
    api(`/api/v1/jobs/${id}/transcript`).then((t) => showTranscript(t, transcriptBox, video)).catch(() => {});
  } else if (!["failed", "cancelled", "deleted"].includes(job.status)) {
    // progressive HLS: the job plays as soon as its first segments are stored
    let playing = false;
    const tryPlay = () => {
      if (playing || ctl.signal.aborted) return;
      play(video, quality, id, 0).then(() => { playing = true; video.play().catch(() => {}); })
        .catch(() => { setTimeout(tryPlay, 2000); });
    };
    tryPlay();
    sse(`/api/v1/jobs/${id}/events`, (name, ev) => {
      state.textContent = `${ev.status} ${Math.round(ev.progress_percent || 0)}%`;
      if (name === "complete" && !playing) route();  // a playing video is not restarted
    }, ctl.signal).catch(() => {});
  }
}

async function play(video, quality, id, start) {
  const tok = await api(`/api/v1/streaming/token/${id}/master`);
  const seek = () => { if (start) video.currentTime = start; };
  video.addEventListener("loadedmetadata", seek, { once: true });
  if (window.Hls && window.Hls.isSupported()) {
    // startPosition 0: a growing (EVENT) playlist plays from its start, not its live edge
    const hls = new window.Hls({ enableWebVTT: true, renderTextTracksNatively: true, startPosition: 0 });
    window.tflowHls = hls;
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
      quality.replaceChildren(h("option", { value: -1 }, "Auto"),
        ...hls.levels.map((l, i) => h("option", { value: i }, `${l.height}p`)));
      if (hls.subtitleTracks.length) hls.subtitleTrack = 0;
    });
    hls.on(window.Hls.Events.SUBTITLE_TRACK_LOADED, () => {
      for (const t of video.textTracks) if (t.kind === "subtitles" || t.kind === "captions") t.mode = "showing";
    });
    quality.onchange = () => { hls.currentLevel = Number(quality.value); };
    hls.loadSource(tok.playlist_url);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = tok.playlist_url;  // Safari: native HLS, subtitles from the master playlist
    quality.disabled = true;
  } else {
    throw new Error("This browser plays neither HLS nor Media Source Extensions.");
  }
}

function showTranscript(t, box, video) {
  const buttons = t.segments.map((s) => h("button", { "data-start": s.start, "data-end": s.end,
    onclick: () => { video.currentTime = s.start; video.play().catch(() => {}); } },
    h("span", { class: "t" }, clock(s.start)),
    ...(s.words.length ? s.words.map((w) => h("span", { class: "w", "data-start": w.start }, w.word)) : [s.text])));
  box.replaceChildren(h("p", { class: "muted" }, `${t.language || "?"} · ${t.model || ""}`), ...buttons);
  video.addEventListener("timeupdate", () => {
    const now = video.currentTime;
    for (const b of buttons) {
      const on = now >= Number(b.dataset.start) && now < Number(b.dataset.end);
      if (on !== (b.getAttribute("aria-current") === "true")) {
        b.setAttribute("aria-current", on ? "true" : "false");
        if (on) b.scrollIntoView({ block: "nearest" });
      }
    }
  });
}

// --- search -------------------------------------------------------------------------
function safeHeadline(text) {
  const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return escaped.replace(/&lt;b&gt;/g, "<mark>").replace(/&lt;\/b&gt;/g, "</mark>");
}

async function searchView(params) {
  const input = h("input", { id: "q", type: "search", value: params.get("q") || "", size: 40 });
  const results = h("ol", { class: "results", id: "results" });
  main.replaceChildren(h("h2", {}, "Search inside videos"),
    h("form", { role: "search", onsubmit: (e) => { e.preventDefault(); location.hash = `#/search?q=${encodeURIComponent(input.value)}`; } },
      h("label", { for: "q" }, "Words spoken, or metadata"), input, h("button", { type: "submit", class: "primary" }, "Search")),
    results);
  input.focus();
  if (!params.get("q")) return;
  try {
    const r = await api(`/api/v1/search?${new URLSearchParams({ q: params.get("q") })}`);
    results.replaceChildren(...r.results.map((hit) => h("li", {},
      h("a", { href: `#/job/${hit.job_id}` }, hit.filename || hit.job_id), hit.metadata_match ? " (metadata)" : "",
      h("ul", {}, hit.moments.map((m) => {
        const li = h("li", {}, h("a", { class: "moment", href: `#/job/${hit.job_id}?t=${m.start_seconds}` },
          clock(m.start_seconds)), " ");
        const span = h("span");
        span.innerHTML = safeHeadline(m.headline);  // our own escaped text with <mark> only
        li.append(span);
        return li;
      })))));
    say(`${r.total} videos match`);
  } catch (e) { say(explain(e)); }
}

// --- operations (admin key) ---------------------------------------------------------
async function opsView() {
  const health = h("table", { id: "components" });
  const consumers = h("table", { id: "consumers" });
  const keys = h("table", { id: "keys" });
  const made = h("p", { id: "new-key", role: "alert" });
  const name = h("input", { id: "key-name", required: true });
  const scopes = ["jobs:read", "jobs:write", "admin"].map((s) => h("input", { type: "checkbox", value: s,
    checked: s !== "admin", id: `scope-${s}` }));
  main.replaceChildren(h("h2", {}, "Operations"), h("h3", {}, "Components"), health,
    h("h3", {}, "Consumers"), consumers, h("h3", {}, "API keys"), keys,
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await api("/api/v1/admin/api-keys", { method: "POST", json: { name: name.value,
          scopes: scopes.filter((c) => c.checked).map((c) => c.value) } });
        made.textContent = `New key (shown once): ${r.api_key}`;
        loadKeys();
      } catch (err) { made.textContent = explain(err); }
    } }, h("label", { for: "key-name" }, "Name"), name,
      scopes.map((c) => h("label", { for: c.id }, c, c.value)), h("button", { type: "submit" }, "Create key")), made);
  const detailed = await fetch("/health/detailed").then((r) => r.json());
  health.replaceChildren(h("tr", {}, ["Component", "Status", "Latency (ms)", "Error"].map((t) => h("th", {}, t))),
    ...Object.entries(detailed.components).map(([n, c]) => h("tr", {}, h("td", {}, n),
      h("td", { class: c.status === "error" ? "error" : "" }, c.status), h("td", {}, c.latency_ms ?? ""),
      h("td", {}, c.error || ""))));
  const cons = (detailed.components.workers || {}).consumers || {};
  consumers.replaceChildren(h("tr", {}, ["Consumer", "Backlog", "In flight", "Idle pulls", "Alive"].map((t) => h("th", {}, t))),
    ...Object.entries(cons).map(([n, c]) => h("tr", {}, h("td", {}, n), h("td", {}, c.backlog),
      h("td", {}, c.in_flight), h("td", {}, c.pull_requests_waiting), h("td", {}, c.alive ? "yes" : "no"))));
  const loadKeys = async () => {
    try {
      const r = await api("/api/v1/admin/api-keys");
      keys.replaceChildren(h("tr", {}, ["Name", "Scopes", "Active", "Last used", ""].map((t) => h("th", {}, t))),
        ...r.api_keys.map((k) => h("tr", {}, h("td", {}, k.name), h("td", {}, k.scopes.join(" ")),
          h("td", {}, k.is_active ? "yes" : "revoked"), h("td", {}, when(k.last_used_at)),
          h("td", {}, h("button", { onclick: async () => { const u = await api(`/api/v1/admin/api-keys/${k.id}/usage`);
            say(`${k.name}: ${u.requests} requests, ${u.jobs} jobs, ${u.bytes} bytes stored`); } }, "Usage"),
            k.is_active ? h("button", { onclick: async () => { const n = await api(`/api/v1/admin/api-keys/${k.id}/rotate`,
              { method: "POST" }); made.textContent = `Rotated ${k.name}; new key (shown once): ${n.api_key}`; } }, "Rotate") : "",
            k.is_active ? h("button", { onclick: async () => { await api(`/api/v1/admin/api-keys/${k.id}`,
              { method: "DELETE" }); loadKeys(); } }, "Revoke") : ""))));
    } catch (e) { keys.replaceChildren(h("tr", {}, h("td", {}, explain(e)))); }
  };
  loadKeys();
}

// --- routing ------------------------------------------------------------------------
function route() {
  leave(); leave = () => {};
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  $("#nav").hidden = !signedIn;
  if (!signedIn) return signIn();
  const [path, query] = (location.hash.slice(1) || "/jobs").split("?");
  const params = new URLSearchParams(query || "");
  const [, view, arg] = path.split("/");
  if (view === "job" && arg) jobView(arg, params);
  else if (view === "upload") uploadView();
  else if (view === "search") searchView(params);
  else if (view === "ops") opsView();
  else jobsView(params);
  main.focus({ preventScroll: true });
}

$("#signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.hash = "#/jobs"; route(); });
window.addEventListener("hashchange", route);
route();
