# The pipecast image for the multi-service deployment (docker-compose.yml): Airflow 3 with the
# pipecast package, its DAGs, the dbt project, the expectations and the source mappings, installed
# from the same lock file as the development environment.
# The Data Docs' CSS, JavaScript and fonts from their pinned npm packages (see the Makefile's
# DOCS_ASSETS), so that the docs the nightly writes render offline.
FROM node:20-slim AS data-docs-assets
WORKDIR /assets
COPY jobs/pipecast/validate/data_docs_assets/package.json jobs/pipecast/validate/data_docs_assets/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/pipecast/dags \
    PIPECAST_STATE_DIR=/opt/pipecast/state \
    PIPECAST_LANDING_DIR=/opt/pipecast/landing

# curl for the compose healthchecks (the PostgreSQL drivers come as wheels).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/pipecast
COPY requirements.lock pyproject.toml README.md ./
RUN pip install uv==0.13.9 && uv pip install --system --compile-bytecode -r requirements.lock
COPY jobs/ jobs/
COPY --from=data-docs-assets /assets/node_modules jobs/pipecast/validate/data_docs_assets/node_modules
COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY expectations/ expectations/
COPY mappings/ mappings/
RUN uv pip install --system --no-deps -e .

# Run as an unprivileged user (compose sets user: ${AIRFLOW_UID}:0, as Airflow's own image expects):
# the group 0 owns what the services write.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow \
    && mkdir -p /opt/airflow/logs /opt/pipecast/state /opt/pipecast/landing \
    && chown -R 50000:0 /opt/airflow /opt/pipecast \
    && chmod -R g+rwX /opt/airflow /opt/pipecast
USER 50000
EXPOSE 8080
CMD ["airflow", "--help"]
