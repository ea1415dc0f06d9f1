"""The one question the benchmark VLM (`vigil-bench-vlm`) was trained to answer.

Kept in a torch-free module so the scene benchmarks and tests can import it
cheaply. The adapter asks this question whatever prompt the engine builds: the
model learned one task (describe the object group in the alert schema), and
hints it never saw in training would only move it off that task.
"""
SYSTEM = "You describe security camera images as JSON."
QUESTION = "What objects are there (colour, class, count), where, and what are they doing?"
