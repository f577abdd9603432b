# The pipecast image for the multi-service deployment (docker-compose.yml): Airflow with the
# pipecast package, the dbt project and the expectations baked in.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 AIRFLOW_HOME=/opt/airflow PIPECAST_STATE_DIR=/opt/pipecast/state
WORKDIR /opt/pipecast
COPY requirements.lock pyproject.toml README.md ./
RUN pip install uv==0.13.9 && uv pip install --system -r requirements.lock
COPY jobs/ jobs/
COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY expectations/ expectations/
RUN uv pip install --system --no-deps -e .
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/pipecast/dags
