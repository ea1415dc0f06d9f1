# Vigil cloud service. PyPI's Linux torch wheels bundle CUDA: the same image uses an NVIDIA GPU when the
# container gets one (compose: deploy.resources.reservations.devices) and runs on the CPU otherwise.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY cloud ./cloud
COPY kernels ./kernels
COPY vigil ./vigil
RUN pip install --no-cache-dir -c constraints.txt ".[cloud]"
ENV HF_HOME=/models/hf
EXPOSE 50051
ENTRYPOINT ["vigil-cloud"]
CMD ["--config", "/etc/vigil/cloud.yaml"]
