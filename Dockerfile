# Social Warehouse on the official Airflow image: the project and every locked dependency
# (dbt-duckdb, Great Expectations, networkit, igraph, ...) installed from uv.lock, so the
# api-server, scheduler, dag-processor, triggerer and every Celery worker run the same code.
#
#   docker compose build            # or: docker build -t social-warehouse-airflow .
#
# The install command below is checked by tests/unit/test_deployment.py, which runs the same
# `uv export` and resolves the result with pip in a scratch environment.
FROM apache/airflow:3.3.2-python3.11

# the same uv as the Makefile; pip pinned so the test resolves with the image's pip
ARG UV_VERSION=0.13.8
ARG PIP_VERSION=25.3
ENV SW_HOME=/opt/social_warehouse \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GX_ANALYTICS_ENABLED=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

USER root
RUN mkdir -p /opt/social_warehouse /data && chown -R airflow:0 /opt/social_warehouse /data
USER airflow

# 1. Locked third-party dependencies (layer cached until pyproject.toml or uv.lock change).
COPY --chown=airflow:0 pyproject.toml uv.lock /opt/social_warehouse/
RUN pip install "pip==${PIP_VERSION}" "uv==${UV_VERSION}" \
 && cd /opt/social_warehouse \
 && uv export --frozen --no-dev --no-emit-project --format requirements-txt \
      --output-file /tmp/requirements.txt \
 && pip install --require-hashes -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# 2. The project itself (no dependency changes: they all came from the lock above).
COPY --chown=airflow:0 README.md /opt/social_warehouse/
COPY --chown=airflow:0 plugins /opt/social_warehouse/plugins
COPY --chown=airflow:0 dags /opt/social_warehouse/dags
COPY --chown=airflow:0 dbt_project /opt/social_warehouse/dbt_project
COPY --chown=airflow:0 expectations /opt/social_warehouse/expectations
COPY --chown=airflow:0 config /opt/social_warehouse/config
COPY --chown=airflow:0 sources /opt/social_warehouse/sources
RUN pip install --no-deps /opt/social_warehouse \
 && python -c "import social_warehouse, dbt.version, great_expectations, networkit, igraph"

WORKDIR /opt/social_warehouse
