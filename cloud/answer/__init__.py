"""What the model is asked and what an answer is: the prompt (prompting.py), the answer's schema
(schema.py) and constrained decoding to it (constrained.py), tidying after parsing (tidy.py), the
describe request and result (request.py), and one event packet's way to its alert stages and
description (describe.py). Modules here import no engine, model or ingest code."""
