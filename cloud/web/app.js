// Vigil operator view: camera list, live event timeline (server-sent events), filters, review.
// Plain browser JavaScript, nothing fetched from outside this server. format.js writes numbers for
// people; detail.js renders one event (both load before this file). Keys: j/k or arrows move through the list, Enter opens an
// event, a acknowledges it, Escape closes the detail.
"use strict";

const PAGE_SIZE = 30;
const CAMERA_POLL_MS = 2000;
const params = new URLSearchParams(location.search);
let token = params.get("token") || localStorage.getItem("vigil-token") || "";
let filters = { camera: "", label: "", min_severity: "", reviewed: "", since: "", until: "" };
let nextOffset = null;
let stream = null;
let selectedId = null; // alert_id the keyboard is on
let total = 0; // events matching the filters (the last page's total, plus those the stream brought)
const shown = new Map(); // alert_id -> element

const $ = (id) => document.getElementById(id);
const withToken = (url) => url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);

async function api(path, method = "GET") {
  const resp = await fetch(path, { method, headers: { Authorization: "Bearer " + token } });
  if (resp.status === 401) { askToken(); throw new Error("unauthorised"); }
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

function askToken() {
  $("auth").hidden = false;
  setStatus("token needed");
}

function setStatus(value) { $("status").textContent = value; }

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

function matches(ev) {
  if (filters.camera && ev.camera_id !== filters.camera) return false;
  if (filters.label && !(filters.label in ev.labels)) return false;
  if (filters.min_severity !== "" && ev.severity < Number(filters.min_severity)) return false;
  if (filters.reviewed !== "" && (ev.reviewed_at !== null) !== (filters.reviewed === "true")) return false;
  if (filters.since !== "" && ev.onset < Number(filters.since)) return false;
  if (filters.until !== "" && ev.onset >= Number(filters.until)) return false;
  return true;
}

function renderEvent(ev) {
  const li = document.createElement("li");
  li.className = "event threat-" + (ev.threat_level ?? "none") + (ev.reviewed_at ? " reviewed" : "")
                 + (ev.alert_id === selectedId ? " selected" : "");
  li.dataset.alertId = ev.alert_id;
  li.dataset.onset = ev.onset;
  li.tabIndex = -1;
  li.setAttribute("role", "option");
  li.setAttribute("aria-selected", String(ev.alert_id === selectedId));
  const img = document.createElement("img");
  img.className = "thumb";
  img.alt = labelsText(ev.labels) + " on " + ev.camera_id;
  // the object, cropped and boxed; the id busts the cache when a better image arrives
  if (ev.thumbnail_id !== null) img.src = withToken("/api/v1/events/" + ev.alert_id + "/thumbnail?v=" + ev.thumbnail_id);
  li.appendChild(img);
  const body = document.createElement("div");
  const when = text("time", dateTime(ev.onset), "when");
  when.dateTime = new Date(ev.onset * 1000).toISOString();
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.append(when, " · " + ev.camera_id + " · " + labelsText(ev.labels));
  body.appendChild(meta);
  const summary = ev.summary || (STATUS_WORDS[ev.status] || ev.status);
  body.appendChild(text("div", summary, "summary"));
  if (notSeeing(ev)) body.appendChild(text("div", "edge measurements · " + ev.model.name + " cannot see images", "badge not-seeing"));
  const facts = text("div", threatText(ev) + " · severity " + ev.severity.toFixed(2), "meta threat");
  if (ev.reviewed_at) facts.appendChild(text("span", " · ✓ acknowledged", "reviewed-mark"));
  body.appendChild(facts);
  li.appendChild(body);
  li.addEventListener("click", () => { select(ev.alert_id); showDetail(ev.alert_id).catch(() => {}); });
  return li;
}

function upsert(ev, append) {
  const old = shown.get(ev.alert_id);
  if (ev.alert_id === detailId) renderDetailLater(ev.alert_id);
  if (!matches(ev)) { if (old) { old.remove(); shown.delete(ev.alert_id); showCount(total - 1); } return; }
  const el = renderEvent(ev);
  shown.set(ev.alert_id, el);
  if (old) { old.replaceWith(el); return; }
  if (!append) showCount(total + 1);
  const list = $("timeline");
  if (append) { list.appendChild(el); return; }
  const later = [...list.children].find((c) => Number(c.dataset.onset) < ev.onset);
  list.insertBefore(el, later || null);
}

// The open detail follows its event's changes (a new stage, an image, a review), once per burst.
let detailRefresh = null;
function renderDetailLater(alertId) {
  clearTimeout(detailRefresh);
  detailRefresh = setTimeout(() => { if (detailId === alertId) showDetail(alertId).catch(() => {}); }, 200);
}

function query(offset) {
  const q = new URLSearchParams({ limit: PAGE_SIZE, offset });
  for (const [k, v] of Object.entries(filters)) if (v !== "") q.set(k, v);
  return "/api/v1/events?" + q.toString();
}

async function loadEvents(offset) {
  const page = await api(query(offset));
  for (const ev of page.events) upsert(ev, true);
  nextOffset = page.next_offset;
  $("more").hidden = nextOffset === null;
  showCount(page.total);
}

function showCount(n) {
  total = Math.max(0, n);
  $("count").textContent = total + (total === 1 ? " event" : " events");
}

// ---- review: acknowledge per event, from the detail or the keyboard
async function setReviewed(alertId, reviewed) {
  const ev = await api("/api/v1/events/" + encodeURIComponent(alertId) + "/review", reviewed ? "POST" : "DELETE");
  const at = entries().findIndex((el) => el.dataset.alertId === alertId);
  upsert(ev, false);
  if (selectedId === alertId && !shown.has(alertId)) { // filtered out ("to review"): go on to the next one
    const rest = entries();
    if (rest.length) select(rest[Math.min(at, rest.length - 1)].dataset.alertId);
  }
  if (detailId === alertId) await showDetail(alertId);
  return ev;
}

// ---- keyboard: j/k or arrows, Enter, a, Escape
function entries() { return [...$("timeline").children]; }

function select(alertId) {
  selectedId = alertId;
  for (const el of entries()) {
    el.classList.toggle("selected", el.dataset.alertId === alertId);
    el.setAttribute("aria-selected", String(el.dataset.alertId === alertId));
  }
  const el = shown.get(alertId);
  if (el) { el.focus({ preventScroll: true }); el.scrollIntoView({ block: "nearest" }); }
}

function move(step) {
  const list = entries();
  if (!list.length) return;
  const at = list.findIndex((el) => el.dataset.alertId === selectedId);
  const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
  select(list[next].dataset.alertId);
}

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Enter" && e.target.closest("button, summary")) return; // Enter presses the focused button
  const target = selectedId || detailId;
  if (e.key === "j" || e.key === "ArrowDown") move(1);
  else if (e.key === "k" || e.key === "ArrowUp") move(-1);
  else if (e.key === "Enter" && selectedId) showDetail(selectedId).catch(() => {});
  else if (e.key === "a" && target) {
    const el = shown.get(target);
    setReviewed(target, !(el && el.classList.contains("reviewed"))).catch(() => {});
  } else if (e.key === "Escape") closeDetail();
  else return;
  e.preventDefault();
});

async function loadCameras() {
  const { cameras } = await api("/api/v1/cameras");
  const list = $("cameras");
  list.replaceChildren();
  const select = $("filter-camera");
  const known = new Set([...select.options].map((o) => o.value));
  for (const cam of cameras) {
    const li = text("li", cam.name || cam.camera_id, "camera");
    li.dataset.cameraId = cam.camera_id;
    const state = text("span", cam.state, "state state-" + cam.state);
    if (cam.cause) state.title = cam.cause;
    li.appendChild(state);
    if (cam.cause && cam.state !== "live") li.appendChild(text("div", cam.cause, "cause")); // why it is not streaming
    const watch = text("button", live.has(cam.camera_id) ? "Stop" : "Watch", "watch");
    watch.addEventListener("click", () => toggleLive(cam.camera_id));
    li.appendChild(watch);
    list.appendChild(li);
    if (!known.has(cam.camera_id)) select.appendChild(new Option(cam.camera_id, cam.camera_id));
  }
}

// ---- live view (WebRTC): the offer goes through the cloud to the camera's edge, media flows edge -> browser
const live = new Map(); // camera_id -> RTCPeerConnection
const ICE_GATHER_MS = 3000;

function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_GATHER_MS); // answer with the candidates found so far
  });
}

async function toggleLive(cameraId) {
  if (live.has(cameraId)) { stopLive(cameraId); loadCameras().catch(() => {}); return; }
  const pc = new RTCPeerConnection();
  live.set(cameraId, pc);
  const video = document.createElement("video");
  video.id = "live-" + cameraId;
  video.className = "live";
  video.autoplay = true; video.muted = true; video.playsInline = true;
  const box = document.createElement("figure");
  box.id = "live-box-" + cameraId;
  box.appendChild(text("figcaption", "live: " + cameraId));
  box.appendChild(video);
  $("live-views").appendChild(box);
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc);
    const resp = await fetch("/api/v1/cameras/" + encodeURIComponent(cameraId) + "/webrtc", {
      method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }) });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || resp.status);
    await pc.setRemoteDescription(body);
  } catch (err) {
    box.appendChild(text("p", "live view failed: " + err.message, "error"));
    pc.close(); live.delete(cameraId);
  }
  loadCameras().catch(() => {});
}

function stopLive(cameraId) {
  const pc = live.get(cameraId);
  if (pc) pc.close();
  live.delete(cameraId);
  const box = $("live-box-" + cameraId);
  if (box) box.remove();
}

// Decoded frames per camera, from the peer connection's own statistics (for people and for tests).
window.vigilLiveStats = async function () {
  const out = {};
  for (const [cameraId, pc] of live) {
    const stats = await pc.getStats();
    stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") out[cameraId] = r.framesDecoded || 0; });
  }
  return out;
};

function connectStream() {
  if (stream) stream.close();
  stream = new EventSource(withToken("/api/v1/stream"));
  stream.onopen = () => setStatus("live");
  stream.onerror = () => setStatus("reconnecting");
  stream.addEventListener("event", (msg) => upsert(JSON.parse(msg.data), false));
}

async function start() {
  $("zone").textContent = "times in " + timeZoneName();
  if (!token) { askToken(); return; }
  $("auth").hidden = true;
  try {
    await loadCameras();
    await loadEvents(0);
  } catch (err) { return; }
  connectStream();
  setInterval(() => loadCameras().catch(() => {}), CAMERA_POLL_MS);
  const wanted = new URLSearchParams(location.hash.slice(1)).get("event");
  if (wanted) showDetail(wanted).catch(() => {});
}

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token-input").value;
  localStorage.setItem("vigil-token", token);
  start();
});

$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  filters = { camera: $("filter-camera").value, label: $("filter-label").value.trim(),
              min_severity: $("filter-severity").value, reviewed: $("filter-reviewed").value,
              since: localInputToUnix($("filter-since").value), until: localInputToUnix($("filter-until").value) };
  shown.clear();
  $("timeline").replaceChildren();
  loadEvents(0).catch(() => {});
});

$("more").addEventListener("click", () => loadEvents(nextOffset).catch(() => {}));
$("detail-close").addEventListener("click", closeDetail);

start();
