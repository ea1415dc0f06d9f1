"""The narrative field: last in the schema, enforced and bounded by the grammar for a model that writes
it, absent from the grammar of a model that does not, composed from the facts where the model wrote
none, and an old stored description (before the field) still loads."""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from cloud.answer.constrained import BatchConstraint, grammar_for, parse_answer
from cloud.answer.narrative import narrative_from_fields, plural, with_narrative
from cloud.answer.schema import (MAX_ACTION_CHARS, MAX_LABEL_CHARS, MAX_NARRATIVE_CHARS, MAX_OBJECTS,
                                 MAX_SUMMARY_CHARS, EventDescription, description_json_schema)
from cloud.models.tiny import byte_level_tokenizer
from tests.helpers.grammar_walk import random_answers

OLD_STORED = {"summary": "far right", "threat_level": 0, "objects": [{"label": "green dog", "count": 2}],
              "action": "moving right"}


def _accepts(grammar, text: str, tok) -> bool:
    matcher = grammar.matcher()
    return all(matcher.accept_token(t) for t in tok.encode(text, add_special_tokens=False)) and matcher.is_completed()


def test_the_narrative_is_the_last_field_and_required_only_where_the_model_writes_one():
    with_it, without = description_json_schema(narrative=True), description_json_schema(narrative=False)
    assert list(with_it["properties"])[-1] == "narrative" and "narrative" in with_it["required"]
    assert with_it["properties"]["narrative"]["minLength"] == 1
    assert with_it["properties"]["narrative"]["maxLength"] == MAX_NARRATIVE_CHARS
    assert "narrative" not in without["properties"] and "narrative" not in without["required"]


def test_an_old_stored_description_without_the_field_still_loads():
    d = EventDescription.model_validate(OLD_STORED)
    assert d.narrative == ""
    assert EventDescription.model_validate(json.loads(d.model_dump_json())) == d


def test_the_grammar_enforces_and_bounds_the_narrative():
    tok = byte_level_tokenizer()
    grammar = grammar_for(tok, len(tok), narrative=True)
    facts = json.dumps(OLD_STORED, separators=(",", ":"))
    assert not _accepts(grammar, facts, tok)                                           # missing
    assert not _accepts(grammar, facts[:-1] + ',"narrative":""}', tok)                  # empty
    assert not _accepts(grammar, facts[:-1] + ',"narrative":"' + "a" * (MAX_NARRATIVE_CHARS + 1) + '"}', tok)
    assert _accepts(grammar, facts[:-1] + ',"narrative":"' + "a" * MAX_NARRATIVE_CHARS + '"}', tok)
    # the narrative comes after the facts, never before
    assert not _accepts(grammar, '{"narrative":"x",' + facts[1:], tok)
    # a model that writes none keeps its trained grammar: the compact answer, nothing after it
    compact = grammar_for(tok, len(tok), narrative=False)
    assert _accepts(compact, facts, tok)
    assert not _accepts(compact, facts[:-1] + ',"narrative":"x"}', tok)


def test_byte_level_random_logits_always_write_a_narrative_inside_the_budget():
    """Worst case for the budget (one byte per token, random logits): the forced tail with the
    narrative's key is in the close reserve, so every answer closes, parses and has a narrative."""
    tok = byte_level_tokenizer()
    grammar = grammar_for(tok, len(tok), narrative=True)
    constraint = BatchConstraint(grammar, close_reserve=0)
    assert constraint.close_reserve >= len('","threat_level":0,"objects":[],"action":"","narrative":"x"}')
    gen = torch.Generator().manual_seed(1)
    budget = 96
    for ids in random_answers(grammar, constraint, len(tok), gen, budget=budget, trials=10):
        assert len(ids) <= budget
        assert parse_answer(tok.decode(ids)).narrative


def test_the_longest_valid_answer_fits_the_engine_budget_in_a_real_vocabulary():
    """Every string at its bound, in English words, in SmolLM2's vocabulary: inside the engine's default
    max_new_tokens with the close reserve to spare (so no real answer is steered shut early)."""
    from cloud.engine.config import EngineConfig
    from cloud.models.smollm_llava import built_model_dir

    folder = built_model_dir(0)
    if not (folder / "recipe.json").exists():
        pytest.skip(f"SmolLM2 not built at {folder}")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    words = "two people walk past a parked car near the gate while a dog waits by the door ".split()

    def fill(limit: int) -> str:
        out = ""
        for i in range(limit):
            nxt = (out + " " + words[i % len(words)]).strip()
            if len(nxt) > limit:
                return out
            out = nxt
        return out

    longest = {"summary": fill(MAX_SUMMARY_CHARS), "threat_level": 2,
               "objects": [{"label": fill(MAX_LABEL_CHARS), "count": 99}] * MAX_OBJECTS,
               "action": fill(MAX_ACTION_CHARS), "narrative": fill(MAX_NARRATIVE_CHARS)}
    text = json.dumps(longest, separators=(",", ":"))
    EventDescription.model_validate(longest)
    grammar = grammar_for(tok, len(tok), narrative=True)
    n = len(tok.encode(text, add_special_tokens=False))
    assert n + grammar.min_reserve <= EngineConfig().max_new_tokens, n


def test_a_narrative_composed_from_the_facts_says_only_them():
    assert narrative_from_fields(OLD_STORED) == "2 green dogs, far right, moving right."
    assert narrative_from_fields({"summary": "a man walks to the door.", "objects": []}) == "A man walks to the door."
    assert narrative_from_fields({"summary": "empty", "objects": [], "action": ""}) == "Empty."
    assert plural("person", 3) == "people" and plural("red bus", 2) == "red buses" and plural("car", 1) == "car"
    written = {**OLD_STORED, "narrative": "Two green dogs trot right."}
    assert with_narrative(written) == written
    assert with_narrative(OLD_STORED)["narrative"] == "2 green dogs, far right, moving right."
    long = {"summary": "x " * 150 + ".", "objects": []}
    assert len(narrative_from_fields(long)) <= MAX_NARRATIVE_CHARS
