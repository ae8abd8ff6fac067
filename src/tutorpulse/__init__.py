"""tutorpulse: tutor performance evaluation and retention system."""

__version__ = "0.1.0"
