"""Per-edge tokens, stored hashed, compared in constant time, revocable without a restart.

Edge tokens are random (``vigil-cloud --new-token EDGE_ID`` makes one with 256 bits), so a plain
SHA-256 is the right hash: slow password hashes protect guessable secrets, and a guess at a
256-bit token is hopeless either way. The cloud keeps only ``sha256:<hex>`` digests: from
``auth.tokens`` (a value may be the digest or, for the demo, the token itself) and from
``auth.token_file`` (lines ``<edge_id> sha256:<hex>``, ``#`` comments), which is re-read when
it changes, so deleting a line revokes that edge: new streams are refused and open ones end.
The comparison hashes the presented token and compares digests with ``hmac.compare_digest``;
an unknown edge id is compared against a dummy digest so its timing matches a wrong token.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("vigil.cloud.ingest.auth")

HASH_PREFIX = "sha256:"
TOKEN_BYTES = 32
_DUMMY = HASH_PREFIX + "0" * 64


def hash_token(token: str) -> str:
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _as_digest(value: str) -> str:
    return value if value.startswith(HASH_PREFIX) and len(value) == len(_DUMMY) else hash_token(value)


def parse_token_file(text: str, source: str = "token file") -> dict[str, str]:
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith(HASH_PREFIX) or len(parts[1]) != len(_DUMMY):
            raise ValueError(f"{source} line {n}: expected '<edge_id> sha256:<64 hex digits>'")
        out[parts[0]] = parts[1]
    return out


class TokenStore:
    def __init__(self, inline: dict[str, str] | None = None, path: str | Path | None = None):
        self._inline = {edge: _as_digest(v) for edge, v in (inline or {}).items()}
        self.path = Path(path) if path else None
        self._file: dict[str, str] = {}
        self._stamp: tuple[float, int] | None = None
        if self.path is not None:
            self.reload_if_changed(strict=True)

    @property
    def digests(self) -> dict[str, str]:
        return {**self._inline, **self._file}

    def verify(self, edge_id: str, token: str) -> bool:
        expected = self.digests.get(edge_id)
        ok = hmac.compare_digest((expected or _DUMMY).encode(), hash_token(token).encode())
        return ok and expected is not None

    def reload_if_changed(self, strict: bool = False) -> bool:
        """Re-read the token file when its mtime or size changed; True when the set of digests changed."""
        if self.path is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if strict:
                raise ValueError(f"auth.token_file {self.path} does not exist") from None
            stamp, text = None, ""
        else:
            stamp = (st.st_mtime, st.st_size)
            if stamp == self._stamp:
                return False
            text = self.path.read_text()
        try:
            parsed = parse_token_file(text, str(self.path))
        except ValueError:
            if strict:
                raise
            log.error("token file %s is malformed; keeping the previous tokens", self.path, exc_info=True)
            self._stamp = stamp
            return False
        self._stamp = stamp
        changed = parsed != self._file
        if changed:
            log.info("token file %s reloaded: %d edges", self.path, len(parsed))
        self._file = parsed
        return changed
