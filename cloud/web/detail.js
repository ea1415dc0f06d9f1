// The event detail as a person reviews it: what was described, what the edge measured, a timeline of
// the stages, the images with the edge's boxes drawn, the deliveries, and the acknowledgement.
// Uses api(), text(), withToken() and $() from app.js, and format.js's functions.
"use strict";

let detailId = null; // alert_id shown in the detail panel

function definitionList(rows) {
  const dl = document.createElement("dl");
  for (const [term, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    dl.appendChild(text("dt", term));
    dl.appendChild(text("dd", value));
  }
  return dl;
}

function section(title, ...children) {
  const el = document.createElement("section");
  el.appendChild(text("h3", title));
  for (const c of children) el.appendChild(c);
  return el;
}

function describedSection(ev) {
  const d = ev.description;
  if (!d) return section("Description", text("p", threatText(ev), "muted"));
  const objects = (d.objects || []).map((o) => o.count + " " + o.label).join(", ");
  const model = ev.model ? ev.model.name + (ev.model.sees_images ? " (sees the images)" : " (cannot see images)") : "";
  // The narrative is read first (a stored description from before it existed has none: the summary leads).
  const lead = d.narrative ? [text("p", d.narrative, "detail-narrative")] : [];
  const box = section("Description", ...lead, text("p", d.summary, d.narrative ? "detail-summary muted" : "detail-summary"),
                      definitionList([["Threat", threatText(ev)], ["Objects", objects], ["Action", d.action],
                                      ["Written by", model]]));
  if (notSeeing(ev)) {
    box.insertBefore(text("p", ev.model.name + " cannot see images: this text is what the edge measured, "
                               + "and the threat level stays at 0.", "warning not-seeing"), box.children[1 + lead.length + 1]);
  }
  return box;
}

function measuredSection(ev) {
  const h = ev.hints || {};
  return section("Measured by the edge", definitionList([
    ["Objects", labelsText(h.counts && Object.keys(h.counts).length ? h.counts : ev.labels)],
    ["Zone", h.zone], ["Dwell", h.dwell_seconds ? duration(h.dwell_seconds) : ""],
    ["Severity", ev.severity.toFixed(2)], ["Rule", h.rule], ["Camera", h.camera_name || ev.camera_id],
    ["Edge", ev.edge_id]]));
}

function timelineSection(ev) {
  const ol = document.createElement("ol");
  ol.className = "timeline-stages";
  const item = (at, what, cls) => {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    li.appendChild(text("time", timeOfDay(at), "at"));
    li.appendChild(text("span", sinceOnset(at, ev.onset), "offset"));
    li.appendChild(text("span", what, "what"));
    ol.appendChild(li);
  };
  item(ev.onset, "event began at the edge", "stage-onset");
  for (const s of ev.stages || []) {
    const words = s.stage === "detected" ? "detected: alert sent"
      : s.stage === "updated" ? "updated: " + (s.escalation || "escalation")
      : s.stage === "ended" ? "ended: object left" + (s.merged_into ? " (merged into " + s.merged_into + ")" : "")
      : s.stage === "redescribed" ? "described again: " + (s.reason === "end" ? "best snapshot at the end" : "escalation")
      : s.status === "ok" ? "described" : "description " + s.status + (s.error ? ": " + s.error : "");
    item(s.at, words, "stage-" + s.stage);
  }
  if (ev.reviewed_at) item(ev.reviewed_at, "acknowledged", "stage-reviewed");
  return section("Timeline", ol);
}

function imagesSection(ev) {
  const box = document.createElement("div");
  box.className = "detail-images";
  for (const im of ev.images) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = withToken("/api/v1/images/" + im.image_id + "?boxes=true");
    img.alt = im.kind.replace(/_/g, " ") + " of " + ev.camera_id;
    fig.appendChild(img);
    const boxes = im.boxes.length ? " · " + im.boxes.length + (im.boxes.length === 1 ? " box" : " boxes") : "";
    fig.appendChild(text("figcaption", im.kind.replace(/_/g, " ") + " · " + im.width + "×" + im.height + boxes
                                       + " · " + timeOfDay(im.created)));
    box.appendChild(fig);
  }
  return section("Images", ev.images.length ? box : text("p", "no image yet", "muted"));
}

function deliveriesSection(ev) {
  const ul = document.createElement("ul");
  for (const d of ev.deliveries || []) {
    const tries = d.attempts > 1 ? " after " + d.attempts + " tries" : "";
    ul.appendChild(text("li", d.stage + " → " + d.sink + ": " + d.state + tries + (d.last_error ? " (" + d.last_error + ")" : "")));
  }
  return section("Deliveries", (ev.deliveries || []).length ? ul : text("p", "none recorded", "muted"));
}

function reviewBar(ev) {
  const bar = document.createElement("div");
  bar.className = "review-bar";
  const button = text("button", ev.reviewed_at ? "Mark to review again" : "Acknowledge (a)", "review");
  button.id = "detail-review";
  button.addEventListener("click", () => setReviewed(ev.alert_id, !ev.reviewed_at));
  bar.appendChild(text("span", ev.reviewed_at ? "✓ acknowledged " + dateTime(ev.reviewed_at) : "to review",
                       ev.reviewed_at ? "reviewed-mark" : "muted"));
  bar.appendChild(button);
  return bar;
}

function renderDetail(ev) {
  detailId = ev.alert_id;
  $("detail-panel").hidden = false;
  $("detail-id").textContent = labelsText(ev.labels) + " · " + (ev.hints.camera_name || ev.camera_id);
  $("detail-when").textContent = dateTime(ev.onset) + " (" + timeZoneName() + ")";
  const raw = document.createElement("details");
  raw.appendChild(text("summary", "Raw event (JSON)"));
  raw.appendChild(text("pre", JSON.stringify(ev, null, 1)));
  $("detail").replaceChildren(reviewBar(ev), describedSection(ev), measuredSection(ev), timelineSection(ev),
                              imagesSection(ev), deliveriesSection(ev), raw);
}

async function showDetail(alertId) {
  renderDetail(await api("/api/v1/events/" + encodeURIComponent(alertId)));
  history.replaceState(null, "", "#event=" + encodeURIComponent(alertId));
}

function closeDetail() {
  detailId = null;
  $("detail-panel").hidden = true;
  history.replaceState(null, "", location.pathname + location.search);
}
