"""The JPEG quality a file was encoded at, read back from its luminance quantisation table.

Policies choose quality inside the edge; the benchmark reads it from the bytes on the wire so
every policy is measured the same way. Encoders built on libjpeg (OpenCV's included) scale the
standard luminance table of the JPEG specification (ITU-T T.81, Annex K, Table K.1) by
``5000 / q`` below 50 and ``200 - 2q`` from 50 up (the IJG convention); the quality is the q
whose scaled table equals the file's. Tables are compared as sorted values, so zig-zag order
does not matter.
"""
from __future__ import annotations

STD_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
DQT = 0xDB


def ijg_table(quality: int) -> list[int]:
    q = min(100, max(1, quality))
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return [min(255, max(1, (v * scale + 50) // 100)) for v in STD_LUMINANCE]


_TABLES = {q: sorted(ijg_table(q)) for q in range(1, 101)}


def _luminance_table(data: bytes) -> list[int] | None:
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker == DQT:
            body = data[i + 4:i + 2 + length]
            j = 0
            while j < len(body):
                precision, table_id = body[j] >> 4, body[j] & 0x0F
                size = 128 if precision else 64
                vals = body[j + 1:j + 1 + size]
                if table_id == 0:
                    return (list(vals) if not precision
                            else [int.from_bytes(vals[k:k + 2], "big") for k in range(0, size, 2)])
                j += 1 + size
        if marker == 0xDA:      # start of scan: no table before the image data
            return None
        i += 2 + length
    return None


def jpeg_quality(data: bytes) -> int | None:
    """IJG quality 1..100 of a JPEG, or None (no JPEG, or a table no IJG quality makes)."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    table = _luminance_table(data)
    if table is None:
        return None
    got = sorted(table)
    best = min(_TABLES, key=lambda q: sum(abs(a - b) for a, b in zip(_TABLES[q], got)))
    return best if _TABLES[best] == got else None
