"""Pure parts of speculative decoding: no model, no torch forward."""
import json

import pytest
import torch

from cloud.speculative.adaptive import DraftLength
from cloud.speculative.bandit import UCB1
from cloud.speculative.config import SpeculativeConfig
from cloud.speculative.fields import JsonFieldTracker, token_is_anchor
from cloud.speculative.prompt_lookup import lookup
from cloud.speculative.verify import LooseVerifier, StrictVerifier

FIELDS = frozenset({"label", "count", "threat_level", "action"})
TERMS = frozenset({"red", "blue", "two"})


def test_prompt_lookup_copies_what_followed_the_latest_match():
    ctx = [1, 2, 3, 9, 9, 1, 2, 3, 7, 8, 5, 1, 2, 3]
    assert lookup(ctx, 2, ngram_max=3, ngram_min=1) == [7, 8]      # latest earlier match wins
    assert lookup([4, 5, 6], 3, 3, 1) == []                         # no earlier occurrence
    assert lookup([5, 6, 5], 4, 3, 1) == [6, 5]                     # unigram fallback
    assert lookup(ctx, 0, 3, 1) == []


def test_field_tracker_names_the_value_each_character_fills():
    answer = '{"summary":"a red car","threat_level":1,"objects":[{"label":"car","count":12}],"action":"x"}'
    keys = JsonFieldTracker().feed(answer)
    by_char = "".join("S" if k == "summary" else "L" if k == "label" else "C" if k == "count"
                      else "T" if k == "threat_level" else "A" if k == "action" else "." for k in keys)
    assert answer[by_char.index("L"):by_char.rindex("L") + 1] == '"car"'
    assert answer[by_char.index("C"):by_char.rindex("C") + 1] == "12}"   # the delimiter ends the number
    assert answer[by_char.index("T"):by_char.rindex("T") + 1] == "1,"
    assert answer[by_char.index("S"):by_char.rindex("S") + 1] == '"a red car"'
    assert by_char[answer.index('"label"')] == "."                        # keys are not values
    json.loads(answer)


def test_anchor_tokens_are_semantic_field_values_and_terms():
    t = JsonFieldTracker()
    t.feed('{"summary":"a ')
    assert token_is_anchor(t, "re", FIELDS, TERMS, tail='{"summary":"a ')      # starts "red"
    assert not token_is_anchor(t, "car", FIELDS, TERMS, tail='{"summary":"a ')
    t.feed('car","threat_level":')
    assert token_is_anchor(t, "2", FIELDS, TERMS)
    t2 = JsonFieldTracker()
    t2.feed('{"summary":"x","threat_level":0,"objects":[{"label":"')
    assert token_is_anchor(t2, "person", FIELDS, TERMS)
    t3 = JsonFieldTracker()
    t3.feed('{"summary":"bl')
    assert token_is_anchor(t3, "ue", FIELDS, frozenset({"blue"}), tail='{"summary":"bl')


def test_strict_accepts_only_the_target_choice_and_loose_never_accepts_an_anchor():
    logits = torch.tensor([5.0, 4.9, 1.0, float("-inf")])
    assert StrictVerifier().accept(logits, 0, 0, lambda: False)
    assert not StrictVerifier().accept(logits, 1, 0, lambda: False)
    loose = LooseVerifier(top_k=2, prob_ratio=0.0)
    assert loose.accept(logits, 1, 0, lambda: False)          # filler in the top-2
    assert not loose.accept(logits, 1, 0, lambda: True)       # anchor: exact only
    assert loose.accept(logits, 0, 0, lambda: True)           # exact anchor is fine
    assert not loose.accept(logits, 2, 0, lambda: False)      # rank 3, ratio off
    assert LooseVerifier(top_k=1, prob_ratio=0.5).accept(logits, 1, 0, lambda: False)  # near tie
    assert not loose.accept(logits, 3, 0, lambda: False)      # grammar-illegal never


def test_adaptive_draft_length_grows_on_full_accept_and_shrinks_on_reject():
    d = DraftLength(4, 1, 8)
    d.update(4, 4)
    assert d.value == 6
    d.update(6, 2)
    assert d.value == 5
    for _ in range(10):
        d.update(3, 0)
    assert d.value == 1
    fixed = DraftLength(4, 1, 8, adaptive=False)
    fixed.update(4, 4)
    assert fixed.value == 4


def test_ucb1_tries_every_arm_then_prefers_the_better_one():
    b = UCB1(2, exploration=0.5)
    assert b.choose() == 0
    b.update(0, 0.1)
    assert b.choose() == 1
    b.update(1, 0.9)
    picks = []
    for _ in range(30):
        arm = b.choose()
        picks.append(arm)
        b.update(arm, 0.9 if arm == 1 else 0.1)
    assert picks.count(1) > 20


def test_config_rejects_typos_and_inconsistent_bounds():
    with pytest.raises(ValueError):
        SpeculativeConfig(mdoe="strict")
    with pytest.raises(ValueError):
        SpeculativeConfig(min_draft_tokens=5, max_draft_tokens=2)
    with pytest.raises(ValueError):
        SpeculativeConfig(mode="strict", drafter="small_model")
    assert SpeculativeConfig().mode == "off"


def test_history_ngrams_draft_the_most_frequent_follower_and_forget_old_answers():
    from cloud.speculative.history_lookup import AnswerNgrams

    store = AnswerNgrams(capacity=2, ngram_max=2)
    assert store.draft([1, 2], 3) == []                     # empty datastore: no draft
    store.add([1, 2, 3, 4])
    store.add([1, 2, 3, 5])
    assert store.draft([9, 1], 2) == [2, 3]                 # unigram back-off, then bigram
    assert store.draft([2, 3], 1) == [5]                    # tie 4/5: the one seen last
    store.add([7, 2, 3, 5])                                 # evicts [1, 2, 3, 4]
    assert store.draft([2, 3], 2) == [5]                    # 5 twice now; nothing follows 3 5
    assert dict(store.follow[(2, 3)]) == {5: 2}             # the evicted answer's 4 is gone


def test_bench_answer_anchors_are_its_place_label_count_and_action_tokens():
    """The benchmark VLM's answer, tokenized as SmolLM2 does: every token of a scored field
    (place in the summary, colour and class, count, action) is an anchor; keys and
    punctuation are fillers."""
    from cloud.speculative.config import DEFAULT_ANCHOR_TERMS

    tokens = ['{"', 'summary', '":"', 'far', ' right', '","', 'threat', '_', 'level', '":', '0', ',"',
              'objects', '":', '[', '{"', 'label', '":"', 'white', ' bag', '","', 'count', '":', '4',
              '}]', ',"', 'action', '":"', 'moving', ' left', '"}']
    # Values with their quotes and delimiters (they decide where a value ends), the quote
    # closing the place word, the list's brackets ("[" + "{" vs "[]": how many objects);
    # keys and the punctuation between them are fillers.
    anchors = {3, 4, 5, 10, 11, 14, 15, 17, 18, 19, 20, 23, 24, 27, 28, 29, 30}
    fields = frozenset(SpeculativeConfig().anchor_fields)
    terms = frozenset(DEFAULT_ANCHOR_TERMS)
    tracker, tail = JsonFieldTracker(), ""
    got = set()
    for i, tok in enumerate(tokens):
        if token_is_anchor(tracker, tok, fields, terms, tail):
            got.add(i)
        tracker.feed(tok)
        tail += tok
    assert got == anchors
    t = JsonFieldTracker()
    t.feed('{"summary":"')
    assert token_is_anchor(t, "empty", fields, terms)        # an empty scene's place


def test_loose_never_accepts_a_filler_draft_where_the_target_wants_an_anchor():
    """The position is an anchor if either token is: "empty" may not stand in for "far"."""
    from cloud.speculative.config import DEFAULT_ANCHOR_TERMS

    t = JsonFieldTracker()
    t.feed('{"summary":"')
    terms = frozenset(DEFAULT_ANCHOR_TERMS) - {"empty"}   # suppose the draft's word were a filler
    assert not token_is_anchor(t, "empty", FIELDS, terms)
    assert token_is_anchor(t, "far", FIELDS, terms)
    logits = torch.tensor([5.0, 4.9])                        # 0 = "far" (target), 1 = "empty"
    loose = LooseVerifier(top_k=2, prob_ratio=0.0)
    is_anchor = lambda: any(token_is_anchor(t, w, FIELDS, terms) for w in ("empty", "far"))
    assert not loose.accept(logits, 1, 0, is_anchor)


def test_digits_classes_and_the_end_of_a_free_text_value_are_anchors():
    """A free-text summary's fillers are loose, but not its digits, its object words, or the
    token that closes it (where the sentence stops is the target's call)."""
    from cloud.speculative.config import DEFAULT_ANCHOR_TERMS

    terms, none = frozenset(DEFAULT_ANCHOR_TERMS), frozenset()
    t = JsonFieldTracker()
    t.feed('{"summary":"Camera saw')
    assert not token_is_anchor(t, ":", none, terms, tail='{"summary":"Camera saw')   # punctuation
    assert token_is_anchor(t, " 3", none, terms)                  # a digit in a value
    assert token_is_anchor(t, " cars", none, terms)               # an object class
    assert not token_is_anchor(t, " spotted", none, terms)
    assert token_is_anchor(t, '."', none, terms)                  # ends the value
    assert token_is_anchor(t, '"}', none, terms)
    assert t.closes_value('"') and not t.closes_value(".")
    key = JsonFieldTracker()
    key.feed('{"')
    assert not token_is_anchor(key, "x2", none, terms)           # a digit in a key is no value
