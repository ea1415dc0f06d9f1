# Vigil edge agent: slim, CPU-only. Runs next to the cameras.
FROM python:3.11-slim
# Set to PyTorch's CPU wheel index to get CPU-only torch (about 1.5 GB smaller than the default CUDA build).
ARG TORCH_INDEX_URL=""
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY edge ./edge
COPY vigil ./vigil
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" torch torchvision; fi \
    && pip install --no-cache-dir -c constraints.txt ".[edge]"
ENV YOLO_CONFIG_DIR=/tmp/ultralytics VIGIL_CACHE_DIR=/var/cache/vigil
ENTRYPOINT ["vigil-edge"]
CMD ["--config", "/etc/vigil/edge.yaml"]
