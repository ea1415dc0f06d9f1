# Vigil cloud service: the single process and every scale-out role (gateway, worker, delivery) run this image.
#
# torch: PyPI's Linux wheels are CUDA builds. They bring ~3.4 GB of NVIDIA libraries, and torch does not import
# without them (libcudnn.so.9), so they cannot simply be left out: the default image runs on a GPU when the
# container gets one (compose: COMPOSE_PROFILES=gpu) and on the CPU otherwise. For a CPU-only host, build with
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu      (compose: VIGIL_TORCH_INDEX_URL=...)
# to install the CPU-only build of the same torch/torchvision versions instead (no NVIDIA libraries, no GPU).
FROM python:3.11-slim
ARG TORCH_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The dependencies first, from pyproject alone: editing the sources below rebuilds in seconds, not minutes.
COPY constraints.txt pyproject.toml ./
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install -c constraints.txt --index-url "$TORCH_INDEX_URL" torch torchvision; fi \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['cloud']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY README.md ./
COPY cloud ./cloud
COPY kernels ./kernels
COPY vigil ./vigil
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --create-home --home-dir /home/vigil vigil \
    && mkdir -p /models /var/lib/vigil && chown vigil:vigil /models /var/lib/vigil
USER vigil
ENV HF_HOME=/models/hf VIGIL_CACHE_DIR=/models/vigil
EXPOSE 50051 8000
# A hub id in engine.model is downloaded into /models (the compose `models` volume) first, with progress in
# the log (cloud/fetch_model.py); then the cloud starts. Arguments go to both.
ENTRYPOINT ["/bin/sh", "-c", "python -m cloud.fetch_model \"$@\" && exec vigil-cloud \"$@\"", "vigil-cloud"]
CMD ["--config", "/etc/vigil/cloud.yaml"]
