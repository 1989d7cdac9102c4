"""Exit codes of ``v6`` and the error type commands raise to end with one of them.

=====  =========================================================================
code   meaning
=====  =========================================================================
0      success
1      unexpected error
2      usage error: wrong or missing options (also: answers missing with --no-input)
3      configuration file invalid or unreadable
4      not found: no such instance, file or server resource
5      wrong state: already running, already exists, still running
6      the server refused the request (its message is shown)
7      the server cannot be reached
8      a task finished, but not successfully
9      timed out
10     no usable container runtime
130    interrupted (Ctrl-C)
=====  =========================================================================
"""

from __future__ import annotations

OK = 0
ERROR = 1
USAGE = 2
CONFIG = 3
NOT_FOUND = 4
STATE = 5
SERVER = 6
CONNECTION = 7
TASK_FAILED = 8
TIMEOUT = 9
NO_RUNTIME = 10
INTERRUPTED = 130


class CliError(Exception):
    """Ends the command with ``message`` on stderr and exit code ``code``.

    ``hint`` is an extra line telling the user what to do about it.
    """

    def __init__(self, message: str, code: int = ERROR, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
