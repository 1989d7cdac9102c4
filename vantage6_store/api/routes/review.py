"""``/review``: assign reviewers, list reviews, approve or reject them.

Policies enforced when a reviewer is assigned: only listed assigners may assign (when the
list is set), only users with the review edit rule who are on the reviewer list (when set)
may review, a developer neither reviews nor (unless allowed) assigns reviewers to their own
algorithm, and the review starts once enough reviewers from enough organizations are in.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_store import policies, rbac, workflow
from vantage6_store.api import serialize
from vantage6_store.api.deps import Ctx, Db, needs
from vantage6_store.api.routes.algorithm import flag
from vantage6_store.api.schemas import ReviewDecision, ReviewIn
from vantage6_store.db import models as m
from vantage6_store.errors import ApiError, bad_request, not_found

router = APIRouter(tags=["Review"])


@router.get("/review", summary="List reviews")
def list_reviews(
    request: Request,
    session: Db,
    algorithm_id: int | None = None,
    reviewer_id: int | None = None,
    page: int = 1,
    per_page: int = 10,
    user=needs("review", rbac.VIEW),
):
    stmt = select(m.Review)
    if algorithm_id is not None:
        stmt = stmt.where(m.Review.algorithm_id == algorithm_id)
    if reviewer_id is not None:
        stmt = stmt.where(m.Review.reviewer_id == reviewer_id)
    wanted = {
        name: flag(request.query_params.get(name))
        for name in ("under_review", "reviewed", "approved", "rejected")
    }
    if sum(wanted.values()) > 1:
        raise bad_request("You have provided multiple review statuses that are conflicting!")
    if wanted["under_review"]:
        stmt = stmt.where(m.Review.status == workflow.REVIEW_UNDER_REVIEW)
    elif wanted["reviewed"]:
        stmt = stmt.where(m.Review.status.in_((workflow.REVIEW_APPROVED, workflow.REVIEW_REJECTED)))
    elif wanted["approved"]:
        stmt = stmt.where(m.Review.status == workflow.REVIEW_APPROVED)
    elif wanted["rejected"]:
        stmt = stmt.where(m.Review.status == workflow.REVIEW_REJECTED)
    return page_response(
        request,
        session,
        stmt,
        serialize.review,
        default_order=[m.Review.id],
        page=page,
        per_page=per_page,
    )


def _get(session, id: int) -> m.Review:
    review = session.get(m.Review, id)
    if review is None:
        raise not_found("Review", id)
    return review


@router.get("/review/{id}", summary="View a review")
def get_review(id: int, session: Db, user=needs("review", rbac.VIEW)) -> dict:
    return serialize.review(_get(session, id))


@router.post("/review", status_code=201, summary="Assign a reviewer to an algorithm")
def create_review(body: ReviewIn, ctx: Ctx, session: Db, user=needs("review", rbac.CREATE)) -> dict:
    rules = ctx.settings.policies
    algorithm = session.get(m.Algorithm, body.algorithm_id)
    if algorithm is None:
        raise bad_request(f"Algorithm id={body.algorithm_id} not found")
    if workflow.review_finished(algorithm):
        raise bad_request("Algorithm review is already finished!")
    if not policies.listed(user, rules.allowed_review_assigners):
        raise ApiError(
            401,
            "You are not allowed to assign reviews due to the policy set by the "
            "administrator of this store.",
        )
    if algorithm.developer_id == user.id and not rules.assign_review_own_algorithm:
        raise bad_request(
            "This store does not allow developers to assign reviewers for their own algorithm"
        )
    reviewer = session.get(m.StoreUser, body.reviewer_id)
    if reviewer is None:
        raise bad_request(f"Reviewer id={body.reviewer_id} not found")
    if ("review", rbac.EDIT) not in reviewer.rule_keys():
        raise bad_request(f"User id='{reviewer.id}' does not have the permission to review")
    if not policies.listed(reviewer, rules.allowed_reviewers):
        raise bad_request(
            f"User id='{reviewer.id}' is not allowed to review algorithms, according to the "
            "policies set by the administrator of this store"
        )
    if reviewer.id == algorithm.developer_id:
        raise bad_request("You cannot assign the developer of the algorithm to review it!")
    already = session.scalars(
        select(m.Review).where(
            m.Review.algorithm_id == algorithm.id, m.Review.reviewer_id == reviewer.id
        )
    ).first()
    if already is not None:
        raise bad_request("This reviewer is already assigned to this algorithm!")
    review = m.Review(
        algorithm=algorithm,
        reviewer=reviewer,
        requested_by=user,
        requested_at=m.utcnow(),
        status=workflow.REVIEW_UNDER_REVIEW,
    )
    session.add(review)
    session.flush()
    workflow.after_assignment(algorithm, rules, user)
    session.commit()
    return serialize.review(review)


@router.delete("/review/{id}", summary="Delete a review")
def delete_review(id: int, ctx: Ctx, session: Db, user=needs("review", rbac.DELETE)) -> dict:
    review = _get(session, id)
    algorithm = review.algorithm
    if algorithm.status == workflow.APPROVED:
        raise ApiError(403, "Reviews of approved algorithms may not be deleted!")
    algorithm.reviews.remove(review)
    session.delete(review)
    if algorithm.status == workflow.UNDER_REVIEW and not workflow.enough_reviewers(
        algorithm.reviews, ctx.settings.policies
    ):
        workflow.move(algorithm, workflow.AWAITING, user, f"review id={id} deleted")
    session.commit()
    return {"msg": f"Review id={id} has been deleted"}


def _own_open_review(session, id: int, user: m.StoreUser) -> m.Review:
    review = _get(session, id)
    if review.reviewer_id != user.id:
        raise ApiError(403, "You are not assigned to this review!")
    if review.status != workflow.REVIEW_UNDER_REVIEW:
        raise bad_request(f"This review has status '{review.status}' and can no longer change")
    return review


@router.post("/review/{id}/approve", summary="Approve the review assigned to you")
def approve_review(
    id: int, session: Db, body: ReviewDecision | None = None, user=needs("review", rbac.EDIT)
) -> dict:
    review = _own_open_review(session, id, user)
    review.status = workflow.REVIEW_APPROVED
    review.submitted_at = m.utcnow()
    review.comment = body.comment if body else None
    algorithm = review.algorithm
    if algorithm.status == workflow.UNDER_REVIEW and workflow.all_reviews_approved(algorithm):
        workflow.approve(session, algorithm, user)
    session.commit()
    return {"msg": f"Review id={id} has been approved"}


@router.post("/review/{id}/reject", summary="Reject the review assigned to you")
def reject_review(
    id: int, session: Db, body: ReviewDecision | None = None, user=needs("review", rbac.EDIT)
) -> dict:
    review = _own_open_review(session, id, user)
    review.status = workflow.REVIEW_REJECTED
    review.submitted_at = m.utcnow()
    review.comment = body.comment if body else None
    workflow.reject(review.algorithm, review, user)
    session.commit()
    return {"msg": f"Review id={id} has been rejected"}
