"""Analytics: pure functions and estimators over DataFrames, tested without Airflow."""
