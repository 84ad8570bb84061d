"""Environment helpers shared by the launcher, the server process wrapper, the tests and the bench."""

import os
from typing import MutableMapping


def prepend_pythonpath(env: MutableMapping[str, str], path: str) -> MutableMapping[str, str]:
    """Put ``path`` first on ``env["PYTHONPATH"]`` (once), keeping the rest in order; returns env.

    Spawned SGLang processes read PYTHONPATH at start-up, so this is how a folder reaches them.
    """
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != path]
    env["PYTHONPATH"] = os.pathsep.join([path] + rest)
    return env
