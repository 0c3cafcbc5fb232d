# syntax=docker/dockerfile:1
# The simfleet image: simctl as the entry point (deploy/entrypoint.sh), run as a non-root user,
# packs of your own mounted at /packs (SIMFLEET_PACKS). See docs/DEPLOY.md.
#   docker build -t simfleet:0.1.0 .
#   docker run --rm simfleet:0.1.0 generate --start 2026-03-02T00:00:00Z --duration 1h --out /tmp/out

# -- build: the wheel (packs, schemas and scenarios inside it, under simfleet/_data/) --------
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md LICENSE hatch_build.py ./
COPY simfleet ./simfleet
COPY schemas ./schemas
COPY scenarios ./scenarios
RUN python -m build --wheel --outdir /wheels .

# -- run ---------------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIMFLEET_PACKS=/packs \
    SIMCTL_STATE_DIR=/var/lib/simfleet
RUN useradd --system --uid 10001 --home-dir /var/lib/simfleet --create-home simfleet \
    && mkdir -p /packs \
    && chown simfleet /packs
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chmod=0755 deploy/entrypoint.sh /usr/local/bin/simfleet-entrypoint
USER 10001:10001
WORKDIR /var/lib/simfleet
# 8321: the admin page, API and /metrics; 9464: a worker's or the orchestrator's --metrics-port
EXPOSE 8321 9464
ENTRYPOINT ["simfleet-entrypoint"]
CMD ["--help"]
