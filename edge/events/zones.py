"""Zone membership: an object is inside a polygon when its bottom-centre point is (Frigate's rule:
where a person stands, not where their head is)."""
from __future__ import annotations

from edge.detection import Detection


def point_in_polygon(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting; points on an edge count as inside."""
    inside = False
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        # on-edge test (collinear and within the segment's bounds)
        cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
        if abs(cross) < 1e-9 and min(x1, x2) - 1e-9 <= x <= max(x1, x2) + 1e-9 and min(y1, y2) - 1e-9 <= y <= max(y1, y2) + 1e-9:
            return True
        if (y1 > y) != (y2 > y):
            xin = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xin:
                inside = not inside
    return inside


def in_zone(det_or_box: Detection | tuple[float, float, float, float], poly_rel: list[tuple[float, float]],
            width: int, height: int) -> bool:
    """Is the object's bottom-centre inside ``poly_rel`` (relative 0..1 coordinates) of a width x height frame?"""
    b = det_or_box.box() if isinstance(det_or_box, Detection) else det_or_box
    x, y = (b[0] + b[2]) / 2.0 / max(1, width), b[3] / max(1, height)
    return point_in_polygon(x, y, poly_rel)
