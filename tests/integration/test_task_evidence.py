"""Human tasks carry their evidence: the open flags, the score and the top-3 factors of the
latest prediction (the model's TreeSHAP factors when a model scored the tutor)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tutorpulse.interventions.engine import run_engine
from tutorpulse.metrics.models import TutorFlag
from tutorpulse.risk.models import ChurnPrediction
from tutorpulse.risk.rules import risk_level

from .test_interventions import SEED, START, at, market, of_type, run_days, set_day

__all__ = ["market"]  # the fixture, re-used

FACTORS = {
    "components": {"availability_reduction": 0.9, "engagement_decline": 0.4},
    "top": ["availability_reduction", "engagement_decline", "no_show_risk"],
    "top_features": [
        {
            "feature": "sessions_7d",
            "component": "availability_reduction",
            "contribution": 0.61,
            "value": 2.0,
            "text": "Held 2 sessions in the last 7 days (usual: 12 a week)",
        },
        {
            "feature": "logins_7d",
            "component": "engagement_decline",
            "contribution": 0.3,
            "value": 1.0,
            "text": "1 login this week",
        },
        {
            "feature": "no_show_14d",
            "component": "no_show_risk",
            "contribution": 0.1,
            "value": 1.0,
            "text": "1 no-show in the last 14 days",
        },
    ],
}


def test_coaching_task_evidence_has_flags_score_and_model_factors(market: Session) -> None:
    db = market
    day = START + timedelta(days=6)
    run_days(db, START, 6, {"t1": 60, "t2": 60})
    db.add(
        TutorFlag(
            tutor_id="t1",
            flag_type="declining_sessions",
            category="pattern",
            raised_on=START,
            last_seen_on=day,
            evidence={"value": 0.4},
        )
    )
    set_day(db, day, {"t1": 60, "t2": 60})
    # t1 also has the champion model's prediction that day (the one whose factors count).
    db.add(
        ChurnPrediction(
            tutor_id="t1",
            prediction_date=day,
            churn_score=62,
            risk_level=risk_level(62),
            score_source="model",
            window_30day_probability=0.62,
            contributing_factors=FACTORS,
            model_version="churn-test",
        )
    )
    db.flush()
    run_engine(db, as_of=day, now=at(day), seed=SEED)

    (task,) = of_type(db, "H1", "t1")
    evidence = task.evidence
    assert evidence["flags"] == ["declining_sessions"]
    assert evidence["score"] == 62 and evidence["risk_level"] == "High"
    factors = evidence["factors"]
    assert factors["source"] == "model" and factors["model_version"] == "churn-test"
    assert factors["prediction_date"] == day.isoformat()
    assert factors["top_components"] == FACTORS["top"]
    assert [f["feature"] for f in factors["top_features"]] == [
        "sessions_7d",
        "logins_7d",
        "no_show_14d",
    ]
    assert factors["top_features"][0]["text"].startswith("Held 2 sessions")

    # Without a model row, the rule score's components are the factors, and it says so.
    (rules_task,) = of_type(db, "H1", "t2")
    assert rules_task.evidence["flags"] == []
    assert rules_task.evidence["factors"]["source"] == "rules"
    assert rules_task.evidence["factors"]["top_features"] == []
