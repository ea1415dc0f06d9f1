"""Descriptions a person can read: clean labels, summaries that end at a sentence."""
from cloud.answer.schema import EventDescription
from cloud.answer.tidy import clean_label, end_at_sentence, tidy_description


def test_labels_lose_scores_and_punctuation_and_merge():
    d = EventDescription(summary="A man rides a bike.", threat_level=0, action="1000000000", objects=[
        {"label": "person 0.93,", "count": 1}, {"label": "Person", "count": 2}, {"label": "0.71", "count": 1}])
    out = tidy_description(d)
    assert [(o.label, o.count) for o in out.objects] == [("person", 3)] and out.action == ""
    assert clean_label("traffic  light,") == "traffic light"


def test_summary_cut_mid_sentence_ends_at_the_last_full_sentence_or_word():
    assert end_at_sentence("A cyclist crosses the road. Then a car turns left and the dri") == \
        "A cyclist crosses the road."
    assert end_at_sentence("A cyclist in a red jacket crosses the ro") == "A cyclist in a red jacket crosses the…"
    assert end_at_sentence("Nothing to cut!") == "Nothing to cut!"
    assert end_at_sentence("far right") == "far right"          # a phrase is a whole answer
    assert end_at_sentence("two people at the gate") == "two people at the gate"
