"""A served warehouse for the BI tests: a tiny synthetic world through the real pipeline steps.

The steps are the DAG's own functions in the DAG's order (ingest, dbt per layer, the
analytics stages on the exported inputs, load, dbt marts, publish), called in this process
without Airflow and without the quality gates (tests/e2e run the DAG with the gates). The
profile is a few hundred users so that two published days cost about a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import pipeline_settings

DAYS = ("2026-05-01", "2026-05-02")


def tiny_profile():
    from social_warehouse.synthetic.profiles import Profile

    return Profile("bi_tiny", n_users=400, n_communities=4, n_topics=4, n_taste_groups=3,
                   n_kols=10, follows=5_000, posts=600, interactions=12_000, n_campaigns=3)


def run_day(settings, ds: str, run_id: str | None = None) -> dict:
    """One daily run of the pipeline's steps (no gates); returns publish's result."""
    from social_warehouse import pipeline, stages

    run_id = run_id or f"bi_test__{ds}"
    pipeline.prepare_build(run_id, ds, settings=settings)
    pipeline.run_ingest(ds, settings=settings, run_id=run_id)
    for layer in ("staging", "core"):
        pipeline.run_dbt([f"tag:{layer}"], ds, settings=settings, run_id=run_id)
    pipeline.export_analytics_inputs(run_id, settings=settings)
    bound = pipeline.run_settings(run_id, settings)
    for stage in (stages.run_graph_stage, stages.run_topics_stage, stages.run_kol_stage,
                  stages.run_audience_stage):
        stage(run_id, ds, settings=bound)
    pipeline.load_outputs(run_id, settings=settings)
    pipeline.run_dbt(["tag:marts"], ds, settings=settings, run_id=run_id)
    return pipeline.publish(run_id, ds, settings=settings)


def generate_world(data_dir: Path, days: int = len(DAYS)):
    from social_warehouse.synthetic import generate

    settings = pipeline_settings(data_dir)
    gen = generate(profile=tiny_profile(), days=days, seed=7, out=settings.data_dir,
                   start_date=DAYS[0], fmt="mixed")
    return settings, gen


@pytest.fixture(scope="session")
def served_warehouse(tmp_path_factory) -> Path:
    """The served file after two published days (the recommender history has two runs)."""
    settings, gen = generate_world(tmp_path_factory.mktemp("bi") / "data")
    for ds in gen.dates:
        run_day(settings, ds)
    return settings.warehouse_path
