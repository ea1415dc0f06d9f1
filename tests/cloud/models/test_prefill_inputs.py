"""Dropping visual tokens keeps every text token and every kept token's original position (1-D and M-RoPE)."""
import torch

from cloud.models.base import PrefillInputs


def _prefill(emb, pos, vis):
    """A one-row PrefillInputs; `pos` is [L] (1-D) or [3, L] (M-RoPE)."""
    length = emb.shape[1]
    return PrefillInputs(inputs_embeds=emb, position_ids=pos.view(-1, 1, length), visual_token_mask=vis,
                         attention_mask=torch.ones(1, length, dtype=torch.long),
                         input_ids=torch.zeros(1, length, dtype=torch.long))


def _next_position(pre):
    return int(pre.position_ids.max()) + 1


def test_keep_visual_keeps_text_and_original_positions():
    # [t0 t1 v0 v1 v2 v3 t2 t3]
    emb = torch.arange(8.0).view(1, 8, 1).expand(1, 8, 3).clone()
    vis = torch.tensor([[0, 0, 1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    out = _prefill(emb, torch.arange(8), vis).keep_visual(torch.tensor([1, 3]))
    assert out.position_ids[0].tolist() == [[0, 1, 3, 5, 6, 7]]
    assert out.inputs_embeds[0, :, 0].tolist() == [0, 1, 3, 5, 6, 7]
    assert out.attention_mask.shape == (1, 6) and _next_position(out) == 8


def test_keep_visual_mrope_positions():
    emb = torch.randn(1, 6, 4)
    vis = torch.tensor([[0, 1, 1, 1, 1, 0]], dtype=torch.bool)
    pos = torch.tensor([[0, 1, 1, 1, 1, 3], [0, 1, 1, 2, 2, 3], [0, 1, 2, 1, 2, 3]])
    out = _prefill(emb, pos, vis).keep_visual(torch.tensor([0, 3]))
    assert out.position_ids.shape == (3, 1, 4)
    assert out.position_ids[:, 0].tolist() == [[0, 1, 1, 3], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert _next_position(out) == 4


def test_keep_visual_with_everything_kept_is_identity():
    emb = torch.randn(1, 10, 4)
    vis = torch.zeros(1, 10, dtype=torch.bool)
    vis[0, 2:8] = True
    out = _prefill(emb, torch.arange(10), vis).keep_visual(torch.arange(6))
    assert torch.equal(out.inputs_embeds, emb) and out.position_ids[0].tolist() == [list(range(10))]
