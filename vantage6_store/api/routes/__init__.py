"""The store's routers, one module per resource."""

from vantage6_store.api.routes import (
    algorithm,
    policy,
    review,
    role,
    rule,
    server,
    user,
    version,
)

ALL_ROUTERS = [
    algorithm.router,
    review.router,
    policy.router,
    user.router,
    role.router,
    rule.router,
    server.router,
    version.router,
]
