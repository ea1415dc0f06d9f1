from vigil.recent import RecentSet


def test_oldest_member_goes_first_and_re_adding_refreshes():
    s = RecentSet(3)
    assert s.add("a") and s.add("b") and s.add("c")
    assert not s.add("a")            # a member: refreshed, not added twice
    s.add("d")                       # over capacity: "b" is now the oldest
    assert list(s) == ["c", "a", "d"] and "b" not in s and len(s) == 3
    s.discard("a")
    s.discard("zzz")
    assert list(s) == ["c", "d"] and bool(s)
