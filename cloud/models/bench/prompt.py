"""The one question the benchmark VLM (`vigil-bench-vlm`) was trained to answer.

Kept in a torch-free module so the scene benchmarks and tests can import it
cheaply. It is the adapter's fixed prompt: the engine's prompt path asks it whatever the
edge's hints say (cloud/answer/prompting.py): the
model learned one task (describe the object group in the alert schema), and
hints it never saw in training would only move it off that task. The question
lists the answer vocabulary: the language model is frozen, and picking a word
it was shown is far easier for it to learn (through the projector alone, on a
CPU) than producing words from nothing; the image decides which word.
"""
SYSTEM = "You describe security camera images as JSON."
QUESTION = ("summary: near or far, then left, centre or right (empty if nothing). objects: label is the colour "
            "(red, green, blue, yellow, white, black) and class (person, car, bicycle, bag, dog), and the count. "
            "action: still, moving left or moving right.")
