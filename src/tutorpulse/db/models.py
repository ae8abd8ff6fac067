"""Imports every domain's tables so that ``Base.metadata`` is complete (Alembic, tests)."""

from tutorpulse.auth import models as auth_models
from tutorpulse.dashboard import models as dashboard_models
from tutorpulse.db.base import Base
from tutorpulse.events import models as events_models
from tutorpulse.ingest import models as ingest_models
from tutorpulse.interventions import models as interventions_models
from tutorpulse.marketplace import models as marketplace_models
from tutorpulse.metrics import models as metrics_models
from tutorpulse.pipeline import models as pipeline_models
from tutorpulse.risk import models as risk_models

__all__ = [
    "Base",
    "auth_models",
    "dashboard_models",
    "events_models",
    "ingest_models",
    "interventions_models",
    "marketplace_models",
    "metrics_models",
    "pipeline_models",
    "risk_models",
]
