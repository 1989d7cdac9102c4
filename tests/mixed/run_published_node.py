"""Start the published vantage6-node 4.14 on the host; run with the python of its venv.

    python run_published_node.py CONFIG.yaml

This starts the node the way ``vnode-local start --config FILE --user`` (its host entry point)
does, with two corrections to how it sees its surroundings; nothing of the node is changed:

- ``vnode-local start`` stops in 4.14 with an AttributeError: the node asks its context
  ``running_in_docker``, which only the context of its container image defines. The host
  context here answers ``False``.
- The node's ``running_in_docker()`` function looks for ``/.dockerenv``. Test machines that are
  themselves containers have that file, and the node would then look for its data in
  environment variables and volumes that only its container has, and put its algorithms on an
  internal network that cannot reach its proxy on the host. It is answered ``False`` too
  (before the node's modules import it).
"""

import sys
from pathlib import Path

import vantage6.common.docker.addons as addons


def _on_host() -> bool:
    return False


addons.running_in_docker = _on_host

from vantage6 import node  # noqa: E402
from vantage6.cli.context.node import NodeContext  # noqa: E402


class HostNodeContext(NodeContext):
    """The node's host context, plus the attribute its container context adds."""

    running_in_docker = False


def main(config: str) -> None:
    assert not node.running_in_docker(), "the node imported running_in_docker too early"
    ctx = HostNodeContext(Path(config).stem, False, config)
    node.run(ctx)


if __name__ == "__main__":
    main(sys.argv[1])
