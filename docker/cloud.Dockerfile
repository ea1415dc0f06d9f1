# Vigil cloud service. PyPI's Linux torch wheels bundle CUDA: the same image uses an NVIDIA GPU when the
# container gets one (compose: COMPOSE_PROFILES=gpu) and runs on the CPU otherwise.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY cloud ./cloud
COPY kernels ./kernels
COPY vigil ./vigil
RUN pip install -c constraints.txt ".[cloud]" \
    && useradd --system --uid 10001 --create-home --home-dir /home/vigil vigil \
    && mkdir -p /models /var/lib/vigil && chown vigil:vigil /models /var/lib/vigil
USER vigil
ENV HF_HOME=/models/hf VIGIL_CACHE_DIR=/models/vigil
EXPOSE 50051
ENTRYPOINT ["vigil-cloud"]
CMD ["--config", "/etc/vigil/cloud.yaml"]
