# Sample webhook receiver: the standard library plus vigil.signing (and vigil.recent, its replay window) — no pip install, no model stack.
FROM python:3.11-alpine
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY vigil/__init__.py vigil/signing.py vigil/demo_secrets.py vigil/recent.py ./vigil/
COPY vigil_tools/__init__.py vigil_tools/webhook_echo.py ./vigil_tools/
RUN adduser -S -u 10001 vigil
USER vigil
EXPOSE 8080
ENTRYPOINT ["python", "-m", "vigil_tools.webhook_echo"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
