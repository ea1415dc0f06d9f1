"""Recipe v1 must render byte-identically after recipe v2 was added: its splits are kept for
comparison and today's weights carry its hash. The digests were computed before v2 existed."""
import hashlib
import json

import pytest

from benchmarks.scenes import generator as gen

V1_RECIPE_HASH = "a4673da185a94b88"
V1_DIGESTS = {
    ("train", 0): "dcb8310c6d65f17f", ("train", 1): "3b3a5b2bc77adec0", ("train", 7): "15c971f3df98c2d1",
    ("train", 42): "4ad5dbd1a725692f", ("val", 0): "7b2951058de3a349", ("val", 1): "3b6b3bff91d16eac",
    ("val", 7): "250302cb8d01103c", ("val", 42): "f8baee6802f43245", ("test", 0): "4130028a59b9ef63",
    ("test", 1): "a543d28be141f308", ("test", 7): "c7a0fdaf51dc524d", ("test", 42): "9cf5b11dc382f85e",
}


def digest(scene: gen.Scene) -> str:
    payload = scene.image.tobytes() + scene.mask.tobytes() + json.dumps([scene.truth, scene.boxes],
                                                                        sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def test_v1_recipe_hash_is_unchanged():
    assert gen.recipe_hash() == V1_RECIPE_HASH


@pytest.mark.parametrize("split,index", sorted(V1_DIGESTS))
def test_v1_scenes_render_byte_identically(split, index):
    assert digest(gen.render_scene(split, 0, index)) == V1_DIGESTS[(split, index)]
