"""Answers written under a grammar by adversarial (random) logits: the worst case for the decode budget."""
import torch


def random_answers(grammar, constraint, vocab: int, gen: torch.Generator, *, budget: int, trials: int,
                   rows: int = 4) -> list[list[int]]:
    """`trials` batches of `rows` answers, each token the argmax of masked random logits; every token must be
    accepted by the row's matcher, and a row ends when its grammar completes or its budget is spent."""
    answers = []
    for _ in range(trials):
        matchers = [grammar.matcher() for _ in range(rows)]
        out = [[] for _ in matchers]
        live = list(range(rows))
        while live:
            masked = constraint.mask(torch.randn(len(live), vocab, generator=gen) * 5,
                                     [matchers[i] for i in live], [budget - len(out[i]) for i in live])
            for row, i in enumerate(list(live)):
                t = int(masked[row].argmax())
                assert matchers[i].accept_token(t)
                out[i].append(t)
                if matchers[i].is_completed() or len(out[i]) >= budget:
                    live.remove(i)
        answers += out
    return answers
