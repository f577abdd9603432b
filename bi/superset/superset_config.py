"""Superset's configuration for pipecast's dashboards (SUPERSET_CONFIG_PATH points here).

Everything a deployment changes comes from the environment: SUPERSET_SECRET_KEY (required),
SUPERSET_METADATA_URI (Superset's own database; default SQLite under SUPERSET_HOME).
"""

import os
from pathlib import Path

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
_home = Path(os.environ.get("SUPERSET_HOME", Path(__file__).resolve().parents[2] / ".state" / "superset"))
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_METADATA_URI", f"sqlite:///{_home / 'superset.db'}")

# Superset 6 recommends a strict CSP; keep it (Talisman) but without the warning in every process.
CONTENT_SECURITY_POLICY_WARNING = False
FEATURE_FLAGS = {"DASHBOARD_RBAC": False}
ROW_LIMIT = 50000

# Offline and private: the page may load nothing but this server's own files. Superset's default
# policy also allows its telemetry pixel (scarf.sh), map tiles and web fonts; the navbar requests
# the pixel on every page, so the policy below (Superset's default less those hosts) makes the browser
# refuse it before any request leaves the machine.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
