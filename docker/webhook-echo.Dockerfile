# Sample webhook receiver: the standard library plus vigil.signing, so no pip install and no model stack.
FROM python:3.11-slim
WORKDIR /app
COPY vigil ./vigil
COPY vigil_tools ./vigil_tools
EXPOSE 8080
ENTRYPOINT ["python", "-m", "vigil_tools.webhook_echo"]
CMD ["--port", "8080"]
