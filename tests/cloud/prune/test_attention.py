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
