// Vigil operator view: camera list, live event timeline (server-sent events), filters, event detail.
// Plain browser JavaScript, nothing fetched from outside this server.
"use strict";

const PAGE_SIZE = 30;
const CAMERA_POLL_MS = 2000;
const params = new URLSearchParams(location.search);
let token = params.get("token") || localStorage.getItem("vigil-token") || "";
let filters = { camera: "", label: "", min_severity: "" };
let nextOffset = null;
let stream = null;
const shown = new Map(); // alert_id -> element

const $ = (id) => document.getElementById(id);
const withToken = (url) => url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);

async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (resp.status === 401) { askToken(); throw new Error("unauthorised"); }
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

function askToken() {
  $("auth").hidden = false;
  setStatus("token needed");
}

function setStatus(text) { $("status").textContent = text; }

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
  return true;
}

function renderEvent(ev) {
  const li = document.createElement("li");
  li.className = "event threat-" + (ev.threat_level ?? "none");
  li.dataset.alertId = ev.alert_id;
  li.dataset.onset = ev.onset;
  const img = document.createElement("img");
  img.className = "thumb";
  img.alt = "snapshot of " + ev.camera_id;
  if (ev.thumbnail_id !== null) img.src = withToken("/api/v1/images/" + ev.thumbnail_id);
  li.appendChild(img);
  const body = document.createElement("div");
  const labels = Object.entries(ev.labels).map(([k, v]) => v + " " + k).join(", ");
  body.appendChild(text("div", new Date(ev.onset * 1000).toLocaleTimeString() + " · " + ev.camera_id + " · " + labels, "meta"));
  const summary = ev.summary || (ev.status === "pending" ? "describing…" : "no description (" + ev.status + ")");
  body.appendChild(text("div", summary, "summary"));
  const threat = ev.threat_level === null ? "threat ?" : "threat " + ev.threat_level;
  body.appendChild(text("div", threat + " · severity " + ev.severity.toFixed(2) + " · " + ev.stage, "meta threat"));
  li.appendChild(body);
  li.addEventListener("click", () => showDetail(ev.alert_id));
  return li;
}

function upsert(ev, append) {
  const old = shown.get(ev.alert_id);
  if (!matches(ev)) { if (old) { old.remove(); shown.delete(ev.alert_id); } return; }
  const el = renderEvent(ev);
  shown.set(ev.alert_id, el);
  if (old) { old.replaceWith(el); return; }
  const list = $("timeline");
  if (append) { list.appendChild(el); return; }
  const later = [...list.children].find((c) => Number(c.dataset.onset) < ev.onset);
  list.insertBefore(el, later || null);
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
}

async function loadCameras() {
  const { cameras } = await api("/api/v1/cameras");
  const list = $("cameras");
  list.replaceChildren();
  const select = $("filter-camera");
  const known = new Set([...select.options].map((o) => o.value));
  for (const cam of cameras) {
    const li = text("li", cam.name || cam.camera_id, "camera");
    li.dataset.cameraId = cam.camera_id;
    li.appendChild(text("span", cam.state, "state state-" + cam.state));
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

async function showDetail(alertId) {
  const ev = await api("/api/v1/events/" + encodeURIComponent(alertId));
  $("detail-panel").hidden = false;
  $("detail-id").textContent = ev.event_id + " (" + ev.camera_id + ")";
  const box = $("detail");
  box.replaceChildren();
  box.appendChild(text("p", ev.summary || "no description yet"));
  for (const im of ev.images) {
    const img = document.createElement("img");
    img.src = withToken("/api/v1/images/" + im.image_id);
    img.alt = im.kind;
    img.title = im.kind + " " + im.width + "×" + im.height;
    box.appendChild(img);
  }
  box.appendChild(text("pre", JSON.stringify({ description: ev.description, hints: ev.hints, stages: ev.stages,
                                               deliveries: ev.deliveries }, null, 1)));
}

function connectStream() {
  if (stream) stream.close();
  stream = new EventSource(withToken("/api/v1/stream"));
  stream.onopen = () => setStatus("live");
  stream.onerror = () => setStatus("reconnecting");
  stream.addEventListener("event", (msg) => upsert(JSON.parse(msg.data), false));
}

async function start() {
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
              min_severity: $("filter-severity").value };
  shown.clear();
  $("timeline").replaceChildren();
  loadEvents(0).catch(() => {});
});

$("more").addEventListener("click", () => loadEvents(nextOffset).catch(() => {}));

start();
