"""Qwen2.5-VL adapter: the Qwen2-VL code path with the Qwen2.5-VL model class.

Qwen2.5-VL's vision tower uses window attention and an MLP merger, and its
temporal M-RoPE ids are scaled by seconds per grid, but for still images the
calls the engine makes (`get_image_features`, `get_rope_index`, the text
model) have the same signatures as Qwen2-VL's, so only the class differs.
"""
from __future__ import annotations

from typing import ClassVar

from cloud.models.qwen2_vl import QwenVLAdapter
from cloud.models.registry import register


@register("qwen2_5_vl", ("qwen2_5_vl",))
class Qwen2_5_VLAdapter(QwenVLAdapter):
    family: ClassVar[str] = "qwen2_5_vl"
    model_class_name: ClassVar[str] = "Qwen2_5_VLForConditionalGeneration"
    tiny_builder_name: ClassVar[str] = "tiny_qwen2_5_vl"
