# One image for web, worker and ml-worker; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg libsndfile1 nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY ml_worker ./ml_worker
COPY earmark_client ./earmark_client
# The CPU build of torch; GPU images install a CUDA build here instead.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -e .
COPY frontend ./frontend
RUN npm --prefix frontend ci --no-audit --no-fund && npm --prefix frontend run build
COPY manage.py ./
RUN DJANGO_SECRET_KEY=build-only EARMARK_VAR_DIR=/tmp/build python manage.py collectstatic --noinput -v 0
EXPOSE 8000
CMD ["python", "-m", "gunicorn", "backend.config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "300"]
