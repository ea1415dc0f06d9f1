"""MetaSD (arXiv 2604.05417): several drafters, the choice a multi-armed bandit.

Per request, UCB1 (Auer et al., 2002) over the drafters on alignment feedback:
the reward of a step is the fraction of the drafted tokens the target accepted
(0 for a step where the arm proposed nothing, so an arm that rarely finds a
match loses to one that always drafts). Untried arms go first, in order.
Rows choosing different arms in one step are drafted by each arm separately.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from cloud.speculative.drafter import DraftContext, Drafter, DraftRow


@dataclass
class UCB1:
    arms: int
    exploration: float = 1.0
    pulls: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)

    def __post_init__(self):
        self.pulls = self.pulls or [0] * self.arms
        self.rewards = self.rewards or [0.0] * self.arms

    def choose(self) -> int:
        for arm, n in enumerate(self.pulls):
            if n == 0:
                return arm
        total = sum(self.pulls)
        return max(range(self.arms), key=lambda a: self.rewards[a] / self.pulls[a]
                   + self.exploration * math.sqrt(2 * math.log(total) / self.pulls[a]))

    def update(self, arm: int, reward: float) -> None:
        self.pulls[arm] += 1
        self.rewards[arm] += reward


class BanditDrafter(Drafter):
    name = "bandit"

    def __init__(self, arms: list[Drafter], exploration: float = 1.0):
        self.arms = arms
        self.exploration = exploration
        self.bandits: dict[str, UCB1] = {}
        self.chosen: dict[str, int] = {}

    def propose(self, rows: list[DraftRow], ctx: DraftContext) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in rows]
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(rows):
            bandit = self.bandits.setdefault(r.seq_id, UCB1(len(self.arms), self.exploration))
            arm = bandit.choose()
            self.chosen[r.seq_id] = arm
            groups.setdefault(arm, []).append(i)
        for arm, members in groups.items():
            drafts = self.arms[arm].propose([rows[i] for i in members], ctx)
            for i, d in zip(members, drafts):
                out[i] = d
        return out

    def feedback(self, seq_id: str, drafted: int, accepted: int) -> None:
        arm = self.chosen.pop(seq_id, None)
        if arm is not None and seq_id in self.bandits:
            self.bandits[seq_id].update(arm, accepted / drafted if drafted else 0.0)
            self.arms[arm].feedback(seq_id, drafted, accepted)

    @property
    def free(self) -> bool:
        return all(arm.free for arm in self.arms)

    def observe(self, seq_id: str, answer: list[int]) -> None:
        for arm in self.arms:
            arm.observe(seq_id, answer)

    def release(self, seq_ids: set[str]) -> None:
        for s in seq_ids:
            self.bandits.pop(s, None)
            self.chosen.pop(s, None)
        for arm in self.arms:
            arm.release(seq_ids)
