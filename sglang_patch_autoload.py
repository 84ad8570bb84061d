"""``SGLANG_TAGGED_MEMORY=1``: tagged release/resume in every process that imports SGLang, no code edits.

RL frameworks (verl, slime, AReaL, ROLL) start SGLang themselves: an in-process ``Engine`` in a
Ray actor, ``launch_server`` in a spawned process, ``python -m sglang.launch_server`` as a
subprocess. None of them calls ``sglang_patch.apply()``. The wheel installs
``sglang_tagged_memory.pth`` into site-packages; Python runs its one line at every interpreter
start, and that line calls ``install()`` here only when the variable is set (unset, it costs one
dictionary lookup and imports nothing). ``install()`` puts a finder on ``sys.meta_path`` that
waits for ``import sglang``; once SGLang's package has been imported, it applies the patch set of
the installed release, before any other SGLang module is imported after it. Processes that SGLang
spawns inherit the variable and apply it themselves (vLLM's plugin rule: every process loads the
plugin). This module imports neither sglang nor torch.

An SGLang release no patch set covers, or a patch that fails to apply: one line on stderr saying
why and naming the supported releases, everything applied so far reverted, and SGLang runs as
shipped. The user's job is never stopped by the switch.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

ENV = "SGLANG_TAGGED_MEMORY"
_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")
# Set once a process said why the switch did nothing, so that the processes it spawns stay quiet.
_SAID = "SGLANG_TAGGED_MEMORY_SAID"


def enabled() -> bool:
    """Whether ``SGLANG_TAGGED_MEMORY`` asks for the patches (1/true/yes/on; unset or 0/false/no/off: no)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in _ON:
        return True
    if value not in _OFF:
        _say(f"{ENV}={os.environ[ENV]!r} is neither on (1, true, yes, on) nor off (0, false, no, off): "
             "SGLang runs unpatched")
    return False


def _say(message: str) -> None:
    """One line on stderr, once per process tree (SGLang's logging is not set up this early)."""
    if os.environ.get(_SAID):
        return
    os.environ[_SAID] = "1"
    print(f"sglang_patch: {message}", file=sys.stderr, flush=True)


def apply_now() -> bool:
    """Apply every patch for the installed SGLang; on failure say why once, revert, return False."""
    import sglang_patch

    try:
        sglang_patch.apply()
        return True
    except sglang_patch.UnsupportedSGLangVersion as e:
        _say(f"{ENV} is set, but {e} SGLang runs unpatched (stock behaviour).")
    except Exception as e:  # noqa: BLE001 - the user's job must not die of the switch
        _say(f"{ENV} is set, but applying the patches failed ({type(e).__name__}: {e}); everything applied "
             "was reverted and SGLang runs unpatched (stock behaviour). Please report this with your SGLang version.")
        try:
            sglang_patch.revert()
        except Exception:  # noqa: BLE001
            pass
    return False


class _AfterSGLangImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``sglang`` is imported, asks the finders after it for the spec
    and makes its loader apply the patches once the package's own code has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "sglang":
            return None
        sys.meta_path.remove(self)  # one package, once; the finders below do the finding
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            stock_exec = spec.loader.exec_module

            def exec_module(module):
                stock_exec(module)
                apply_now()

            spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Apply the patches as soon as SGLang is imported in this process (now, if it already is).

    Called by the ``.pth`` line when ``SGLANG_TAGGED_MEMORY`` is set; idempotent (a venv whose
    ``lib64`` links to ``lib`` runs each ``.pth`` twice)."""
    if not enabled():
        return
    if "sglang" in sys.modules:
        apply_now()
    elif not any(isinstance(f, _AfterSGLangImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterSGLangImport())
