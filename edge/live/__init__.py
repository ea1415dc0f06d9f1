"""Live view: one WebRTC video track per camera and viewer, published on request (aiortc)."""
