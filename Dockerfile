# Lead scoring backend: the production WSGI server (waitress, 2 processes x 8 threads) on $PORT.
# Build:  docker build -t leadscore .
# Run:    docker run -p 8080:8080 -v leadscore-models:/models -e LEADSCORE_API_KEYS=... leadscore
# Models live on the volume mounted at /models (LEADSCORE_MODEL_DIR): one registry per model
# name, trained from the sidebar or the CLI, kept across restarts. The sample model shipped in
# the image (/app/sample-models) serves requests that name no model (LEADSCORE_FALLBACK_MODEL_DIR);
# see docs/STORAGE.md.
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
COPY models/ sample-models/

# /models is where the operator mounts persistent storage (a Cloud Storage volume on Cloud
# Run, a Docker volume elsewhere). Without a mount it is the container's own disk: models
# trained there are lost when the container goes.
RUN mkdir -p /models && chown leadscore /models

ENV PORT=8080 \
    LEADSCORE_MODEL_DIR=/models \
    LEADSCORE_FALLBACK_MODEL_DIR=/app/sample-models

USER leadscore
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8080\")}/healthz', timeout=4)"

# exec: the server is PID 1 and receives SIGTERM for a graceful shutdown.
CMD ["sh", "-c", "exec python -m backend serve --host 0.0.0.0 --port ${PORT:-8080}"]
