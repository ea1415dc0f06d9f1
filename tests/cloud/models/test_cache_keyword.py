"""The KV cache goes to the language model by the keyword its transformers release takes."""
import torch

from cloud.models.base import cache_keyword


class _Old(torch.nn.Module):
    def forward(self, inputs_embeds=None, past_key_values=None, use_cache=None, **kwargs):
        return past_key_values


class _New(torch.nn.Module):
    def forward(self, inputs_embeds=None, cache=None, use_cache=None, **kwargs):
        return cache


def test_the_cache_keyword_follows_the_forward_signature():
    """transformers renamed past_key_values to cache; the other name would vanish into **kwargs
    and the model would decode every step without its cache, silently."""
    assert cache_keyword(_Old()) == "past_key_values"
    assert cache_keyword(_New()) == "cache"
    sentinel = object()
    for module in (_Old(), _New()):
        assert module(**{cache_keyword(module): sentinel}) is sentinel


def test_the_installed_decoder_takes_the_cache_by_that_keyword():
    from transformers import LlamaConfig, LlamaModel

    model = LlamaModel(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1, vocab_size=32))
    import inspect
    assert cache_keyword(model) in inspect.signature(model.forward).parameters
