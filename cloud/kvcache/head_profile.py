"""The head profile HybridKV allocates and compresses by: a small JSON file beside the model.

For every (layer, KV head) it stores the class ("static" or "dynamic"), the stability
that decided it and the need the budget allocation weighs (cloud/kvcache/calibrate.py
computes them on a calibration set). It also stores the fingerprint of the model it was
measured on: architecture, shape and a digest of the first layer's key projection. A
profile made for another model is refused at load time with an error naming the
difference: its classes would be someone else's heads.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROFILE_NAME = "hybridkv_profile.json"
PROFILE_VERSION = 1
HEAD_CLASSES = ("static", "dynamic")


class ProfileMismatch(ValueError):
    """The profile was measured on another model (or is not a HybridKV profile)."""


def _digest(tensor) -> str:
    return hashlib.sha1(tensor.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _projector(model: Any) -> Any:
    """The module that turns vision features into LM inputs (LLaVA's projector, Qwen's merger)."""
    inner = getattr(model, "model", model)
    for name in ("multi_modal_projector", "visual"):
        if getattr(inner, name, None) is not None:
            return getattr(inner, name)
    return None


def model_fingerprint(language_model: Any, model: Any = None) -> dict[str, Any]:
    """What identifies a model's heads: the LM's shape and a digest of layer 0's key weights,
    plus, given the whole VLM, a digest of its vision-to-LM projection (the same LM behind
    another vision tower attends differently to what it is shown)."""
    cfg = language_model.config
    attn = language_model.layers[0].self_attn
    out = {
        "model_type": getattr(cfg, "model_type", ""),
        "layers": len(language_model.layers),
        "heads": int(cfg.num_attention_heads),
        "kv_heads": int(cfg.num_key_value_heads),
        "head_dim": int(attn.head_dim),
        "hidden": int(cfg.hidden_size),
        "k_proj_sha1": _digest(attn.k_proj.weight),
    }
    projector = _projector(model) if model is not None else None
    if projector is not None:
        out["vision_sha1"] = _digest(next(projector.parameters()))
    return out


@dataclass
class HeadProfile:
    fingerprint: dict[str, Any]
    classes: list[list[str]]          # [layer][kv head]: "static" | "dynamic"
    stability: list[list[float]]      # share of decode-time visual attention on the text prior's picks
    need: list[list[float]]           # share of visual tokens attended over decoding (allocation weight)
    threshold: float                  # stability below this = dynamic
    calibration: dict[str, Any] = field(default_factory=dict)
    version: int = PROFILE_VERSION
    provenance: dict[str, Any] = field(default_factory=dict)   # how and where it was measured

    def __post_init__(self):
        shape = [len(row) for row in self.classes]
        for name in ("stability", "need"):
            if [len(row) for row in getattr(self, name)] != shape:
                raise ValueError(f"profile {name} shape differs from its classes")
        bad = {c for row in self.classes for c in row} - set(HEAD_CLASSES)
        if bad:
            raise ValueError(f"unknown head classes {sorted(bad)}")

    @property
    def layers(self) -> int:
        return len(self.classes)

    @property
    def kv_heads(self) -> int:
        return len(self.classes[0]) if self.classes else 0

    def dynamic_share(self) -> float:
        flat = [c for row in self.classes for c in row]
        return sum(c == "dynamic" for c in flat) / max(1, len(flat))

    def with_threshold(self, threshold: float) -> "HeadProfile":
        """The same measurements classified at another stability threshold."""
        classes = [["static" if x >= threshold else "dynamic" for x in row] for row in self.stability]
        return HeadProfile(self.fingerprint, classes, self.stability, self.need, threshold,
                           dict(self.calibration), self.version, dict(self.provenance))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "HeadProfile":
        data = json.loads(Path(path).read_text())
        if data.get("version") != PROFILE_VERSION:
            raise ProfileMismatch(f"{path}: profile version {data.get('version')!r}, "
                                  f"expected {PROFILE_VERSION}; recompute it")
        return cls(**data)

    def check(self, fingerprint: dict[str, Any], source: str = "profile") -> "HeadProfile":
        """Raise ProfileMismatch unless the profile was made for the model with `fingerprint`."""
        diff = {k: (self.fingerprint.get(k), v) for k, v in fingerprint.items() if self.fingerprint.get(k) != v}
        if diff:
            shown = ", ".join(f"{k}: profile {a!r} vs model {b!r}" for k, (a, b) in diff.items())
            raise ProfileMismatch(f"{source} was made for another model ({shown}); "
                                  "recompute it with `python -m cloud.kvcache.calibrate`")
        return self


def load_for(path: str | Path, language_model: Any, model: Any = None) -> HeadProfile:
    """Load the profile at `path` and check it belongs to `language_model` (inside `model`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no HybridKV head profile at {path}; compute it with "
                                "`python -m cloud.kvcache.calibrate --model <model> --out <path>`")
    return HeadProfile.load(path).check(model_fingerprint(language_model, model), source=str(path))


def default_profile_path(model: str | None, seed: int = 0) -> Path | None:
    """hybridkv_profile.json beside the model's files, where the model has files."""
    from cloud.models.registry import built_model_files

    files = built_model_files(model, seed)
    if files is not None:
        return files / PROFILE_NAME
    if model and Path(model).is_dir():
        return Path(model) / PROFILE_NAME
    return None
