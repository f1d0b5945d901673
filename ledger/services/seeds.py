"""What a fresh database needs to be usable at once: the seed rate card and the support plans."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import RateCard
from . import ratecards, sla


def seed_defaults(session: Session, currency: str) -> list[str]:
    """Seed what an empty database lacks, in the home ``currency``; returns what was seeded. Idempotent."""
    seeded = []
    if session.scalar(select(RateCard.id).limit(1)) is None:
        card = ratecards.seed_card(session, currency)
        seeded.append(f"the {card.currency} rate card, in force from {card.effective_from.isoformat()}")
    seeded.extend(f"the support plan {plan.code}" for plan in sla.seed_support_plans(session))
    return seeded
