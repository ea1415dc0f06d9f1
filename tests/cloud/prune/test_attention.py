import torch
from transformers import LlamaConfig, LlamaModel

from cloud.prune.attention import early_text_attention


def test_shallow_pass_attention_matches_the_models_own_attention_weights():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2)
    cfg._attn_implementation = "eager"
    model = LlamaModel(cfg).eval()
    embeds = torch.randn(1, 20, 64)
    pos = torch.arange(20)[None]
    visual = torch.arange(3, 15)
    queries = torch.tensor([15, 19])
    layer = 2
    with torch.no_grad():
        ref = model(inputs_embeds=embeds, position_ids=pos, output_attentions=True).attentions[layer][0]
    expected = ref[:, queries][:, :, visual].mean(dim=(0, 1))
    got = early_text_attention(model, embeds, pos, queries, visual, layer)
    torch.testing.assert_close(got.text_to_visual, expected, rtol=1e-4, atol=1e-6)
    assert got.visual_keys.shape == (12, 2 * 16)


def test_shallow_pass_handles_qwen_mrope_positions():
    from transformers import Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    torch.manual_seed(1)
    cfg = Qwen2_5_VLTextConfig(vocab_size=50, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                               num_attention_heads=4, num_key_value_heads=2,
                               rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                "mrope_section": [2, 3, 3]})
    cfg._attn_implementation = "eager"
    model = Qwen2_5_VLTextModel(cfg).eval()
    embeds = torch.randn(1, 14, 64)
    # text 0-1, a 2x4 image grid at t=2 (positions 2..9), text after
    t = torch.tensor([0, 1] + [2] * 8 + [4, 5, 6, 7])
    h = torch.tensor([0, 1] + [2, 2, 2, 2, 3, 3, 3, 3] + [4, 5, 6, 7])
    w = torch.tensor([0, 1] + [2, 3, 4, 5, 2, 3, 4, 5] + [4, 5, 6, 7])
    pos = torch.stack([t, h, w])[:, None]
    visual, queries = torch.arange(2, 10), torch.tensor([13])
    with torch.no_grad():
        ref = model(inputs_embeds=embeds, position_ids=pos, output_attentions=True).attentions[1][0]
    got = early_text_attention(model, embeds, pos, queries, visual, 1)
    torch.testing.assert_close(got.text_to_visual, ref[:, 13, visual].mean(0), rtol=1e-4, atol=1e-6)
