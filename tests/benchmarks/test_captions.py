"""The free-text workload's facts and its fidelity score (pure)."""
from benchmarks.scenes import captions

TRUTH = {"summary": "far right", "threat_level": 0, "objects": [{"label": "yellow dog", "count": 6}],
         "action": "moving left"}
EMPTY = {"summary": "empty", "threat_level": 0, "objects": [], "action": "none"}


def test_facts_spell_the_scene_truth():
    assert captions.facts(TRUTH) == "6 yellow dogs, far right, moving left"
    assert captions.facts(EMPTY) == "nothing"
    one = {**TRUTH, "objects": [{"label": "red person", "count": 1}]}
    assert captions.facts(one).startswith("1 red person,")
    assert captions.plural("person", 3) == "people"


def test_a_sentence_that_says_every_fact_is_exact():
    s = captions.mentions("Six yellow dogs are moving to the left at the far right.", TRUTH)
    assert s["exact"] == 1.0 and s["count"] == 1.0 and s["action"] == 1.0


def test_missing_or_contradicted_facts_are_wrong():
    s = captions.mentions("6 yellow dogs, far right, moving left. A car accident.", TRUTH)
    assert s["class"] == 0.0 and s["colour"] == 1.0            # another class named
    s = captions.mentions("6 yellow dogs and 3 more, far right, moving left.", TRUTH)
    assert s["count"] == 0.0                                   # another count
    s = captions.mentions("Yellow dogs at the far right.", TRUTH)
    assert s["count"] == 0.0 and s["action"] == 0.0 and s["position"] == 1.0
    assert captions.mentions("Nothing to report.", EMPTY)["exact"] == 1.0
    assert captions.mentions("A red car.", EMPTY)["exact"] == 0.0


def test_a_scene_becomes_the_edges_request():
    hints = captions.scene_hints(TRUTH)
    assert hints["counts"] == {"yellow dog": 6} and hints["zone"] == "far right" and hints["rule"] == "moving left"
    assert "counts" not in captions.scene_hints(EMPTY) and "zone" not in captions.scene_hints(EMPTY)


def test_retained_counts_the_facts_the_reference_says():
    ref = [captions.mentions("6 yellow dogs at the far right, moving left.", TRUTH),
           captions.mentions("Yellow dogs.", TRUTH)]
    same = captions.retained(ref, ref)
    assert same == 1.0
    lost = captions.retained(ref, [captions.mentions("6 dogs at the far right, moving left.", TRUTH),
                                   captions.mentions("Yellow dogs.", TRUTH)])
    assert lost == 6 / 7          # 5 facts + 2 facts said; the colour lost in the first
    assert captions.retained([captions.mentions("", TRUTH)], [captions.mentions("", TRUTH)]) is None
