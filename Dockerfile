# machipay API image. `docker compose up` (compose.yaml) is the usual way to run it; alone:
#   docker build -t machipay .
#   docker run --rm -p 8000:8000 -e MACHIPAY_DATABASE_URL=... -e MACHIPAY_REDIS_URL=... machipay
# Configuration comes only from MACHIPAY_* environment variables (machipay/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Every dependency ships manylinux wheels for CPython 3.11 (asyncpg, argon2-cffi, uvloop,
# httptools, pydantic-core), so the slim image needs no compiler.
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY machipay/ machipay/
COPY ledger/ ledger/
COPY migrations/ migrations/
COPY wallet_api/ wallet_api/
COPY merchant_api/ merchant_api/
COPY payments/ payments/
COPY settlement/ settlement/
COPY campaigns/ campaigns/
COPY benefits/ benefits/
COPY desk/ desk/
COPY analytics/ analytics/
COPY web/ web/
COPY assembly/ assembly/
COPY identity/ identity/
COPY ward/ ward/
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

# Run as an unprivileged user from an empty working directory: the `machipay` script runs
# the installed package, never the sources in /src, and no stray .env is read.
RUN groupadd --system --gid 10001 machipay \
    && useradd --system --uid 10001 --gid machipay --home-dir /app --create-home \
       --shell /usr/sbin/nologin machipay
WORKDIR /app
USER machipay

EXPOSE 8000
# One worker by default; compose.yaml runs several (with Redis, which they need to share
# rate limits and the token deny-list).
CMD ["machipay", "serve", "--host", "0.0.0.0", "--port", "8000"]
