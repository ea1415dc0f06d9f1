// How the page writes the API's numbers for a person: dates in the viewer's time zone, rounded
// durations, threat levels in words. Pure functions, no DOM.
"use strict";

// The description's threat levels (cloud/prompting.py's words).
const THREAT_WORDS = ["normal", "suspicious", "dangerous"];
const STATUS_WORDS = { pending: "describing…", timeout: "no description (the model took too long)",
                       error: "no description (the model failed)" };

const DATE_TIME = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" };
const TIME = { hour: "2-digit", minute: "2-digit", second: "2-digit" };

function timeZoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

// Unix seconds -> "6 Dec 2026, 17:43:05" in the viewer's time zone.
function dateTime(unix) {
  return new Date(unix * 1000).toLocaleString(undefined, DATE_TIME);
}

function timeOfDay(unix) {
  return new Date(unix * 1000).toLocaleTimeString(undefined, TIME);
}

// Seconds -> "0.2 s", "12 s", "3 min 4 s", "2 h 5 min": as precise as a person reads it.
function duration(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  if (s < 10) return s.toFixed(1) + " s";
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) {
    const m = Math.floor(s / 60), rest = Math.round(s - m * 60);
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  const h = Math.floor(s / 3600), m = Math.round((s - h * 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

// Offset of a moment from the event's onset: "+1.4 s".
function sinceOnset(unix, onset) {
  const d = unix - onset;
  return (d < 0 ? "−" : "+") + duration(Math.abs(d));
}

function threatText(ev) {
  if (ev.threat_level === null || ev.threat_level === undefined) {
    return STATUS_WORDS[ev.status] || "not described";
  }
  const word = THREAT_WORDS[ev.threat_level] || "level " + ev.threat_level;
  return "threat " + ev.threat_level + " · " + word;
}

function labelsText(labels) {
  const parts = Object.entries(labels || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => v + " " + k);
  return parts.length ? parts.join(", ") : "motion";
}

// Whose words the summary is: "" for a model that sees; a warning otherwise.
function notSeeing(ev) {
  return ev.model && ev.model.sees_images === false;
}

// <input type="datetime-local"> value (viewer's time zone) -> Unix seconds, or "" when empty.
function localInputToUnix(value) {
  if (!value) return "";
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? "" : String(ms / 1000);
}
