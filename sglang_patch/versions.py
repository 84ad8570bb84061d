"""The supported SGLang releases, written once.

Each release maps to its patch set (a subpackage with a ``PATCHES`` tuple, like ROLL's
per-version modules) and to the stack it was tested with. The patches' version gate, the error
for an unsupported release, the series tooling and the pyproject extras (checked by
tests/test_versions.py) all read this table.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Release:
    version: str
    # The subpackage whose PATCHES tuple holds this release's patches, in application order.
    patch_set: str
    # Whether SGLang itself allocates and pauses memory by tag in this release.
    native_tags: bool
    # What the release was tested with besides SGLang (pyproject's `stack` extra pins the same).
    stack: Tuple[str, ...]
    # Whether a machine without a GPU installs sglang itself with --no-deps (no `srt_cpu` extra on
    # PyPI; its requirements include CUDA-only wheels) and takes the rest from pyproject's `cpu-<v>`.
    cpu_sglang_no_deps: bool = False

    @property
    def spec(self) -> str:
        return f"=={self.version}"

    @property
    def extra_suffix(self) -> str:
        """The version as pyproject's extras spell it: ``0.4.6.post5`` -> ``0-4-6-post5``."""
        return re.sub(r"[^a-z0-9]+", "-", self.version.lower())


RELEASES: Tuple[Release, ...] = (
    Release(
        version="0.4.6.post5",
        patch_set="sglang_patch.v0_4_6_post5",
        native_tags=False,
        stack=("torch==2.6.0", "transformers==4.51.1", "torch_memory_saver>=0.0.8"),
    ),
    Release(
        version="0.4.7.post1",
        patch_set="sglang_patch.v0_4_7_post1",
        native_tags=False,
        stack=("torch==2.7.1", "transformers==4.52.3", "torch_memory_saver>=0.0.8"),
    ),
    Release(
        version="0.4.8",
        patch_set="sglang_patch.v0_4_8",
        native_tags=True,
        stack=("torch==2.7.1", "transformers==4.52.3", "torch_memory_saver>=0.0.8"),
    ),
    Release(
        version="0.4.9.post6",
        patch_set="sglang_patch.v0_4_9_post6",
        native_tags=True,
        stack=("torch==2.7.1", "transformers==4.54.0", "torch_memory_saver>=0.0.8"),
    ),
    Release(
        version="0.4.10.post2",
        patch_set="sglang_patch.v0_4_10_post2",
        native_tags=True,
        stack=("torch==2.7.1", "transformers==4.54.1", "torch_memory_saver>=0.0.8"),
    ),
    Release(
        version="0.5.6",
        patch_set="sglang_patch.v0_5_6",
        native_tags=True,
        stack=("torch==2.9.1", "transformers==4.57.1", "torch_memory_saver>=0.0.9"),
        cpu_sglang_no_deps=True,
    ),
    Release(
        version="0.5.17",
        patch_set="sglang_patch.v0_5_17",
        native_tags=True,
        stack=("torch==2.11.0", "transformers==5.12.1", "torch_memory_saver>=0.0.9.post1"),
        cpu_sglang_no_deps=True,
    ),
)


# Release facts that the CPU runs depend on (server_ext.cpu_compat, sglang_patch_dev.device_flags).
SGL_KERNEL_IMPORTED_FROM = "0.4.9"  # imports sgl_kernel at module level on every device
SLEEP_ON_IDLE_FROM = "0.4.7"  # has --sleep-on-idle


def installed_sglang_at_least(version: str) -> bool:
    """Whether the installed SGLang is ``version`` or later (False when none is installed)."""
    import importlib.metadata

    from packaging.version import Version

    from sglang_patch._core import installed_sglang_version

    try:
        return Version(installed_sglang_version()) >= Version(version)
    except importlib.metadata.PackageNotFoundError:
        return False


def supported_versions() -> Tuple[str, ...]:
    return tuple(r.version for r in RELEASES)


def release_for(version: str) -> Release:
    for release in RELEASES:
        if release.version == version:
            return release
    raise KeyError(version)


def unsupported_message(found: str, what: str = "sglang_patch") -> str:
    """The error for an SGLang release that no patch set covers: the list, and what to do."""
    listed = ", ".join(supported_versions())
    pins = " or ".join(f"pip install 'sglang=={v}'" for v in supported_versions())
    return (
        f"sglang_patch: {what}, but found sglang {found}. Supported releases: {listed}. "
        f"Install a supported release ({pins}), or run without sglang_patch."
    )


def patch_set(version: str):
    """The patch-set module for an installed SGLang version (UnsupportedSGLangVersion if none)."""
    from sglang_patch._core import UnsupportedSGLangVersion

    try:
        release = release_for(version)
    except KeyError:
        raise UnsupportedSGLangVersion(unsupported_message(version, "no patch set for this release")) from None
    return importlib.import_module(release.patch_set)
