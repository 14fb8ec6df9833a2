# syntax=docker/dockerfile:1
# EmailBot: a slim, non-root image. Build: `docker build -t emailbot .`; run with compose.yaml.
#
# Stage 1 resolves the locked dependencies with uv into /app/.venv (no compilers needed: every dependency ships
# wheels); stage 2 copies only that virtual environment onto a clean Python image with the PostgreSQL client tools
# `emailbot backup` and `emailbot restore` need. Debian bookworm's client is PostgreSQL 15: keep the server at 15
# (compose.yaml) or install a newer client; `emailbot backup` refuses a client older than the server.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra s3 --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --extra s3 --no-editable

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 emailbot \
    && useradd --system --uid 10001 --gid emailbot --home-dir /app --shell /usr/sbin/nologin emailbot \
    && install -d -o emailbot -g emailbot /var/lib/emailbot
COPY --from=build --chown=emailbot:emailbot /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EMAILBOT_HOST=0.0.0.0 \
    EMAILBOT_PORT=8000 \
    EMAILBOT_DATA_DIR=/var/lib/emailbot \
    EMAILBOT_MODEL_DIR=/var/lib/emailbot/models \
    EMAILBOT_LOCAL_MAILBOX_DIR=/var/lib/emailbot/mailbox \
    EMAILBOT_BACKUP_DIR=/var/lib/emailbot/backups
WORKDIR /var/lib/emailbot
USER emailbot
VOLUME ["/var/lib/emailbot"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["emailbot", "health", "--url", "http://127.0.0.1:8000"]
ENTRYPOINT ["emailbot"]
CMD ["run", "--role", "all"]
