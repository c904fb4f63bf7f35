# Lead scoring backend: the production WSGI server (waitress, 2 processes x 8 threads) on $PORT.
# Build:  docker build -t leadscore .
# Run:    docker run -p 8080:8080 -e LEADSCORE_API_KEYS=... leadscore
# Serving on 0.0.0.0 requires sign-in to be configured (LEADSCORE_API_KEYS and/or
# LEADSCORE_OIDC_AUDIENCE + LEADSCORE_ALLOWED_DOMAINS); see docs/DEPLOY.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin leadscore

COPY backend/ backend/
COPY models/ models/

ENV PORT=8080 \
    LEADSCORE_MODEL_DIR=/app/models

USER leadscore
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8080\")}/healthz', timeout=4)"

# exec: the server is PID 1 and receives SIGTERM for a graceful shutdown.
CMD ["sh", "-c", "exec python -m backend serve --host 0.0.0.0 --port ${PORT:-8080}"]
