"""Superset settings for the Social Warehouse dashboard (read by ``SUPERSET_CONFIG_PATH``).

Everything Superset writes lives in ``SW_SUPERSET_HOME`` (default ``data/superset``): the
SQLite metadata database and the secret key. Superset reads the served DuckDB warehouse
read-only; the connection is set when the bundle is imported (``superset/dashboard.py``).

Anonymous visitors get the ``Public`` role with Gamma's read permissions plus read access to
the datasets (granted by ``dashboard.py setup``): the dashboard opens without a login on
127.0.0.1, editing needs the admin login. Do not expose this instance beyond localhost
without setting ``SW_SUPERSET_PUBLIC_READ=0``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_HOME = Path(os.environ.get("SW_SUPERSET_HOME") or Path(__file__).resolve().parents[1] / "data"
             / "superset").resolve()
_HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if os.environ.get("SUPERSET_SECRET_KEY"):
        return os.environ["SUPERSET_SECRET_KEY"]
    path = _HOME / "secret_key"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get("SW_SUPERSET_METADATA_URI") or \
    f"sqlite:///{_HOME / 'superset.db'}"
DATA_DIR = str(_HOME)

# Local single-user instance: no Redis, no Celery; results are small.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
THUMBNAIL_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
RATELIMIT_STORAGE_URI = "memory://"
TALISMAN_ENABLED = False
# The served file is read-only for Superset: no DML, no uploads, no CTAS.
PREVENT_UNSAFE_DB_CONNECTIONS = True
FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ALERT_REPORTS": False, "TAGGING_SYSTEM": False}

if os.environ.get("SW_SUPERSET_PUBLIC_READ", "1") == "1":
    PUBLIC_ROLE_LIKE = "Gamma"
    AUTH_ROLE_PUBLIC = "Public"
