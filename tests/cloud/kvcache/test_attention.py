"""The attention hook presses install: only the language model, same numbers, config stays light."""
import subprocess
import sys

import torch

from cloud.kvcache.attention import ATTENTION_NAME, AttentionCapture, install


def test_install_routes_only_the_language_model_and_keeps_its_outputs(llava):
    lm = llava.language_model
    embeds = torch.randn(1, 12, lm.config.hidden_size)
    pos = torch.arange(12)[None]
    with torch.inference_mode():
        before = lm(inputs_embeds=embeds, position_ids=pos).last_hidden_state
        capture = install(lm, AttentionCapture(window=4))
        after = lm(inputs_embeds=embeds, position_ids=pos).last_hidden_state
    assert lm.config._attn_implementation == ATTENTION_NAME
    assert llava.model.model.vision_tower.config._attn_implementation == "eager"
    assert torch.allclose(before, after, atol=1e-6)
    att = capture.prefill[0]
    heads = lm.config.num_key_value_heads
    assert att.shape == (1, heads, 4, 12)
    assert torch.allclose(att.sum(-1), torch.ones(1, heads, 4), atol=1e-5)   # rows are distributions
    assert torch.all(att[0, :, 0, 9:] == 0)                                   # causal: query 8 sees 0..8


def test_kv_config_imports_no_torch():
    code = "import sys, cloud.kvcache.config; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
