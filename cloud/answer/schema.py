"""The alert description the cloud model must produce (the alert schema).

The JSON schema derived from :class:`EventDescription` is what constrained
decoding enforces, so every answer parses ("100% output consistency", DAT).
Bounds (max items, max lengths) keep the longest valid answer inside the
decode budget: an unbounded array lets a model repeat items until the token
limit cuts the JSON.
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_OBJECTS = 4          # distinct object labels per description
MAX_LABEL_CHARS = 24
MAX_SUMMARY_CHARS = 160
MAX_ACTION_CHARS = 48


class ObjectCount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=MAX_LABEL_CHARS)
    count: int = Field(ge=0, le=99)


class EventDescription(BaseModel):
    """What a user reads in the `described` alert."""
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY_CHARS)
    threat_level: Literal[0, 1, 2]
    objects: list[ObjectCount] = Field(min_length=0, max_length=MAX_OBJECTS)
    action: str = Field(default="", max_length=MAX_ACTION_CHARS)


def description_json_schema() -> dict:
    """JSON schema for constrained decoding (pydantic's, with lengths kept)."""
    return EventDescription.model_json_schema()


def parse_description(text: str) -> EventDescription:
    return EventDescription.model_validate(json.loads(text))
