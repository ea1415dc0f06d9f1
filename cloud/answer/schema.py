"""The alert description the cloud model must produce (the alert schema).

The JSON schema derived from :class:`EventDescription` is what constrained
decoding enforces, so every answer parses ("100% output consistency", DAT).
Bounds (max items, max lengths) keep the longest valid answer inside the
decode budget: an unbounded array lets a model repeat items until the token
limit cuts the JSON.

`narrative` is the one-to-two sentence account a person reads first (as
Frigate's GenAI descriptions are). It is the LAST field: a model writes it after
the facts (summary, threat level, objects, action), so the sentence is
conditioned on what the model already committed to rather than the other way
round. A model that writes one is made to (`description_json_schema(narrative=True)`:
required, at least one character); a model trained on the compact answer without it
(`ModelAdapter.writes_narrative`) is held to the schema it was trained on, and its
alert's narrative is composed from its fields (cloud/answer/narrative.py). A
stored description from before the field existed loads with narrative "".
"""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_OBJECTS = 4          # distinct object labels per description
MAX_LABEL_CHARS = 24
MAX_SUMMARY_CHARS = 160
MAX_ACTION_CHARS = 48
# Two sentences of ~20 words; at ~4.5 characters a token that is ~55 tokens, which with the
# longest facts keeps the longest valid answer inside the engine's default budget
# (tests/cloud/answer/test_narrative_schema.py checks it in SmolLM2's vocabulary).
MAX_NARRATIVE_CHARS = 240
NARRATIVE = "narrative"


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
    narrative: str = Field(default="", max_length=MAX_NARRATIVE_CHARS,
                           description="one or two sentences on what happened, written after the facts")


def description_json_schema(narrative: bool = True) -> dict:
    """JSON schema for constrained decoding (pydantic's, with lengths kept).

    narrative=True: the narrative is required and non-empty (the grammar makes the model
    write it, last). narrative=False: the schema without the field, exactly as a model
    trained before it knew it (its answers stay token for token what they were)."""
    schema = EventDescription.model_json_schema()
    if narrative:
        schema["required"] = [*schema["required"], NARRATIVE]
        schema["properties"][NARRATIVE]["minLength"] = 1
    else:
        del schema["properties"][NARRATIVE]
    return schema


def parse_description(text: str) -> EventDescription:
    return EventDescription.model_validate(json.loads(text))
