"""An algorithm's review workflow; every status change is recorded with who and when.

awaiting reviewer assignment (submitted) -> under review -> approved | rejected
approved -> replaced (a newer version of the same image is approved)
any -> removed (invalidated by a manager)
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vantage6_store.db import models as m
from vantage6_store.settings import StorePolicies

AWAITING = "awaiting reviewer assignment"
UNDER_REVIEW = "under review"
APPROVED = "approved"
REJECTED = "rejected"
REPLACED = "replaced"
REMOVED = "removed"
IN_REVIEW_PROCESS = (AWAITING, UNDER_REVIEW)

REVIEW_UNDER_REVIEW = "under review"
REVIEW_APPROVED = "approved"
REVIEW_REJECTED = "rejected"
REVIEW_DROPPED = "dropped"


def move(
    algorithm: m.Algorithm, to_status: str, by: m.StoreUser | None, note: str | None = None
) -> None:
    """Set ``algorithm``'s status and record the transition (nothing when it is unchanged)."""
    if algorithm.status == to_status:
        return
    algorithm.events.append(
        m.AlgorithmEvent(
            from_status=algorithm.status,
            to_status=to_status,
            user_id=by.id if by else None,
            username=by.username if by else None,
            at=m.utcnow(),
            note=note,
        )
    )
    algorithm.status = to_status


def submit(algorithm: m.Algorithm, by: m.StoreUser) -> None:
    algorithm.status = None  # type: ignore[assignment]
    move(algorithm, AWAITING, by, "submitted")


def review_finished(algorithm: m.Algorithm) -> bool:
    return algorithm.status not in IN_REVIEW_PROCESS


def enough_reviewers(reviews: list[m.Review], policies: StorePolicies) -> bool:
    """Whether the assigned reviewers meet the minimum count and organization spread."""
    live = [r for r in reviews if r.reviewer is not None]
    organizations = {(r.reviewer.v6_server_id, r.reviewer.organization_id) for r in live}
    return (
        len(live) >= policies.min_reviewers
        and len(organizations) >= policies.min_reviewing_organizations
    )


def after_assignment(algorithm: m.Algorithm, policies: StorePolicies, by: m.StoreUser) -> None:
    """Start the review once enough reviewers from enough organizations are assigned."""
    if algorithm.status == AWAITING and enough_reviewers(algorithm.reviews, policies):
        move(algorithm, UNDER_REVIEW, by, "enough reviewers assigned")


def approve(session: Session, algorithm: m.Algorithm, by: m.StoreUser | None) -> None:
    """Approve ``algorithm`` and mark older live versions of the same image replaced."""
    now = m.utcnow()
    move(algorithm, APPROVED, by, "all reviews approved")
    algorithm.approved_at = now
    older = session.scalars(
        select(m.Algorithm).where(
            m.Algorithm.image == algorithm.image,
            m.Algorithm.id != algorithm.id,
            m.Algorithm.invalidated_at.is_(None),
        )
    )
    for other in older:
        newer_in_review = not review_finished(other) and other.id > algorithm.id
        if newer_in_review:
            continue
        other.invalidated_at = now
        move(other, REPLACED, by, f"replaced by algorithm id={algorithm.id}")


def reject(algorithm: m.Algorithm, review: m.Review, by: m.StoreUser) -> None:
    """One rejection rejects the algorithm; the other open reviews are dropped."""
    move(algorithm, REJECTED, by, f"review id={review.id} rejected")
    algorithm.invalidated_at = m.utcnow()
    for other in algorithm.reviews:
        if other.id != review.id and other.status == REVIEW_UNDER_REVIEW:
            other.status = REVIEW_DROPPED


def remove(algorithm: m.Algorithm, by: m.StoreUser) -> None:
    move(algorithm, REMOVED, by, "invalidated")
    algorithm.invalidated_at = m.utcnow()
    for review in algorithm.reviews:
        if review.status == REVIEW_UNDER_REVIEW:
            review.status = REVIEW_DROPPED


def all_reviews_approved(algorithm: m.Algorithm) -> bool:
    return bool(algorithm.reviews) and all(r.status == REVIEW_APPROVED for r in algorithm.reviews)
