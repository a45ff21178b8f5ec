"""Alerts to the units: when an account newly fails a rule, its contacts hear once, and again
on recovery (docs/alerts.md).

``rules`` says what each rule sees now, ``engine`` turns changes into queued messages (the
state and the queue are in the store) and delivers them, ``providers`` are the channels
(e-mail, Apprise URLs), ``text`` the Chinese wording.
"""

from dashboards.alerts.engine import RULES_BY_JOB, Delivery, Outcome, deliver, evaluate, rules_for, send_digests
from dashboards.alerts.providers import Alert, AppriseProvider, DeliveryError, EmailProvider, Provider
from dashboards.alerts.rules import RULES

__all__ = ["RULES", "RULES_BY_JOB", "Alert", "AppriseProvider", "Delivery", "DeliveryError", "EmailProvider",
           "Outcome", "Provider", "deliver", "evaluate", "rules_for", "send_digests"]
