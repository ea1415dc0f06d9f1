# Vigil edge agent: slim, CPU-only, no torch. The gate runs YOLO through ONNX Runtime when an exported
# model is in $VIGIL_WEIGHTS_DIR, the OpenCV HOG people detector otherwise (the log says which).
#
# YOLO weights, three ways:
#   build arg   docker compose build --build-arg YOLO_WEIGHTS=yolov8n.pt edge
#               (the `weights` stage below downloads and exports it to ONNX; torch never reaches the image)
#   mount       an exported .onnx at /opt/vigil/weights/<name>.onnx (compose.yaml shows the volume line)
#   download    gate.yolo.download: true with the `export` extra installed (a full, not slim, install)

FROM python:3.11-slim AS weights
ARG YOLO_WEIGHTS=""
ARG YOLO_IMGSZ=640
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 YOLO_CONFIG_DIR=/tmp/ultralytics
WORKDIR /build
COPY constraints.txt pyproject.toml README.md ./
COPY edge ./edge
COPY vigil ./vigil
RUN mkdir -p /weights && if [ -n "$YOLO_WEIGHTS" ]; then \
      apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
      && pip install -c constraints.txt ".[export]" \
      && python -m edge.gate.export "$YOLO_WEIGHTS" --format onnx --imgsz "$YOLO_IMGSZ" \
      && cp ./*.onnx /weights/; fi

FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The dependencies first, from pyproject alone: editing the sources below rebuilds in seconds.
COPY constraints.txt pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['edge'] + p['optional-dependencies']['live']))" \
      > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY README.md ./
COPY edge ./edge
COPY vigil ./vigil
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --create-home --home-dir /home/vigil vigil \
    && mkdir -p /var/cache/vigil /var/lib/vigil && chown vigil:vigil /var/cache/vigil /var/lib/vigil
COPY --from=weights /weights /opt/vigil/weights
USER vigil
ENV VIGIL_WEIGHTS_DIR=/opt/vigil/weights VIGIL_CACHE_DIR=/var/cache/vigil
EXPOSE 8081
ENTRYPOINT ["vigil-edge"]
CMD ["--config", "/etc/vigil/edge.yaml"]
