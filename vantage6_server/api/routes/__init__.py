"""One router per resource; ``ALL_ROUTERS`` lists them for the app."""

from vantage6_server.api.routes import (
    algorithmstore,
    blobstream,
    collaboration,
    kill,
    misc,
    node,
    organization,
    recover,
    role,
    rule,
    run,
    study,
    task,
    token,
    user,
)

# Cheap, frequent paths first: FastAPI matches routes in order.
ALL_ROUTERS = [
    misc.router,
    token.router,
    recover.router,
    organization.router,
    collaboration.router,
    study.router,
    node.router,
    user.router,
    role.router,
    rule.router,
    task.router,
    run.router,
    kill.router,
    blobstream.router,
    algorithmstore.router,
]
