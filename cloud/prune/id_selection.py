"""ID-Selection: importance-diversity visual token selection (arXiv 2604.05601).

Importance-only pruning (FastV) keeps clusters of near-duplicate tokens around
the salient object; diversity-only pruning (DivPrune) spends the budget on
background. ID-Selection takes the most important token, then lowers the score
of every token in proportion to its similarity to that pick, and repeats:
    S_j <- S_j - exp(-gamma * d_j^2) * S_best,   d_j = 1 - cos(x_j, x_best).
Choices where the paper is vague (kept configurable in PrunerConfig):
- importance: [CLS] attention when the vision tower has one, else the text's
  attention at LLM layer 2 (last instruction token by default); boxes from the
  edge multiply it (cloud/prune/importance.py);
- d_j on the projected visual embeddings by default (free; early-layer keys
  need the shallow pass);
- gamma defaults to 0, not the paper's 20: chosen on validation scenes of
  the benchmark VLM (retention at 16 and 64 tokens for gamma 0, 1 and 20:
  benchmarks/results/prune_gamma_val.json). On
  that model the diversity term only hurt, so the default selection is the
  plain importance top-k (see below); gamma > 0 restores the paper's method;
- kept tokens keep their original order and position ids (cloud/prune/base.py).
With gamma = 0 every score drops by the same amount each step, so the picks are
the plain top-k: ID-Selection reduces to FastV on the same importance (with
text importance, the default benchmark arm, it selects exactly what FastV does),
and the pruner takes that path directly, without the loop or its similarity matrix.
With gamma > 0, on CUDA, every image of a prefill batch that needs a fresh selection goes
through one batched Triton launch pair (kernels/id_selection); on the CPU the
loop runs as the torch reference, image by image.
"""
from __future__ import annotations

import torch

from cloud.prune.base import PruneContext, TokenPruner
from cloud.prune.importance import importance_scores
from kernels.id_selection import id_select_batch


class IdSelectionPruner(TokenPruner):
    name = "id_selection"

    @property
    def needs_text_attention(self) -> bool:  # type: ignore[override]
        return self.config.importance == "text" or self.config.similarity == "keys"

    def _inputs(self, ctx: PruneContext) -> tuple[torch.Tensor, torch.Tensor]:
        scores = importance_scores(ctx, self.config, prefer="cls")
        feats = ctx.keys if (self.config.similarity == "keys" and ctx.keys is not None) else ctx.visual_embeds
        return scores.to(feats.device), feats

    def _select(self, ctx: PruneContext, k: int) -> torch.Tensor:
        return self._select_many([ctx], [k])[0]

    def _select_many(self, ctxs: list[PruneContext], ks: list[int]) -> list[torch.Tensor]:
        if self.config.gamma == 0:   # no suppression: the loop's picks are the importance top-k
            return [_top_k(importance_scores(ctx, self.config, prefer="cls"), k) for ctx, k in zip(ctxs, ks)]
        pairs = [self._inputs(ctx) for ctx in ctxs]
        if len({(f.device, f.shape[-1]) for _, f in pairs}) > 1:  # one launch needs one device and width
            return [id_select_batch([s], [f], [k], self.config.gamma)[0] for (s, f), k in zip(pairs, ks)]
        return id_select_batch([s for s, _ in pairs], [f for _, f in pairs], ks, self.config.gamma)


def _top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The k highest scores' indices, ties to the lowest index (as the selection loop's argmax)."""
    return torch.sort(scores.detach().float(), descending=True, stable=True).indices[:k]
