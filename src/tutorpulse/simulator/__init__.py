"""Marketplace simulator: deterministic, continuous synthetic data for tutorpulse.

The model
    Every tutor has a latent *commitment* that follows an Ornstein-Uhlenbeck walk around a
    level; the level drifts down for at-risk and churner priors (the five PRD archetypes are
    overlapping priors on where commitment starts and how it drifts, never behaviour tables).
    *Engagement* = sigmoid(commitment - temporary dips - departure depression) drives what is
    observable: logins, session prep, message response times, reschedules (STEM more), tutor
    no-shows (more in the morning and on Mondays), late starts, session quality and ratings.
    Healthy tutors have bad weeks (dips) and holidays; new tutors ramp up, and their
    first-session outcomes feed back into their commitment.

    A *departure* starts with a daily hazard that rises as commitment falls (times a subject
    family factor: STEM < Language/Writing < Test Prep), plus rare life events that strike
    anyone. It unfolds as an abrupt resignation, a decline then resignation, a fade to
    nothing, or a partial fade. Churn is never decided by the simulator directly: it happens
    when the DESIGN.md §5 rules fire on the tutor's activity (resignation event; 15 days
    without a held session; 3 full weeks under half the baseline), and ``churn_labels`` finds
    exactly the same dates in the files. A churned tutor does nothing more.

    Students pair with tutors on a subject and meet on fixed weekdays; pairs form while a
    tutor carries less than the load they want and dissolve after bad first sessions, no-shows
    or in time. Hiring replaces departing capacity, so the volume stays at the target.
    Interventions recorded for a tutor lower the departure hazard after a delay
    (``config.InterventionEffects``: one place for effect sizes, delay and duration).

Time and randomness
    Simulated time only: a day is simulated when the clock reaches its midnight, and records
    are released when the clock passes their own timestamp (``buffer``), so 15-minute ticks
    and whole-day ticks produce the same records. Seeds derive from the master seed with
    ``numpy.random.SeedSequence``: per tutor for profiles (adding tutors changes none of the
    existing ones) and per day for behaviour (a restart recomputes a day without replaying
    earlier ones). Ids are counters with a ``syn_`` prefix; nothing reads the wall clock.

Entry points
    ``export.generate_dataset`` writes the DESIGN.md §3 files (``tutorpulse generate``);
    ``report.build_report`` measures them against the PRD (``tutorpulse synth-report``);
    ``live.run_simulator_worker`` feeds the same engine through the ingestion service.

Knobs
    ``config.SimulationConfig`` (seed, start, tutors, sessions per day) and
    ``config.BehaviourParams`` (archetype priors, hazards, rates, shapes).
"""
