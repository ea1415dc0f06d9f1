"""The URLs a webhook receiver follows to see an event: its JSON, its snapshot and the page."""
from __future__ import annotations


def event_links(public_url: str, alert_id: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    return {"event": f"{base}/api/v1/events/{alert_id}", "snapshot": f"{base}/api/v1/events/{alert_id}/snapshot",
            "page": f"{base}/#event={alert_id}"}
