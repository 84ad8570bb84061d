"""The supported SGLang releases, written once.

Each tested release maps to its patch set (a subpackage with a ``PATCHES`` tuple, like ROLL's
per-version modules) and to the stack it was tested with, and serves a *range* of releases
(``serves``): a release inside a range that nobody has run yet gets that set, with one log line
saying it is untested; a release outside every range is refused, naming the ranges. The patches'
version gate (a patch's ``sglang_spec`` is its set's range), the error for an unsupported
release, the series tooling and the pyproject extras (checked by tests/test_versions.py) all
read this table.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from typing import Optional, Tuple

logger = logging.getLogger("sglang_patch")


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
    # The releases this set serves (a PEP 440 specifier that includes ``version``); "" = only it.
    # A range reaches only as far as the same wiring is known to hold: between two tested releases
    # of one layout, or the post-releases of one.
    serves: str = ""
    # Whether patches/<version>/ carries the change as a source series too.
    source_series: bool = True

    @property
    def spec(self) -> str:
        """The releases the patch set serves: its patches' version gate."""
        return self.serves or f"=={self.version}"

    def covers(self, version: str) -> bool:
        from packaging.specifiers import SpecifierSet
        from packaging.version import Version

        return Version(version) in SpecifierSet(self.spec, prereleases=True)

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
        serves=">=0.4.6,<0.4.7",
    ),
    Release(
        version="0.4.7.post1",
        patch_set="sglang_patch.v0_4_7_post1",
        native_tags=False,
        stack=("torch==2.7.1", "transformers==4.52.3", "torch_memory_saver>=0.0.8"),
        serves=">=0.4.7,<0.4.8",
    ),
    Release(
        version="0.4.8",
        patch_set="sglang_patch.v0_4_8",
        native_tags=True,
        stack=("torch==2.7.1", "transformers==4.52.3", "torch_memory_saver>=0.0.8"),
        serves=">=0.4.8,<0.4.9",
    ),
    Release(
        version="0.4.9.post6",
        patch_set="sglang_patch.v0_4_9_post6",
        native_tags=True,
        stack=("torch==2.7.1", "transformers==4.54.0", "torch_memory_saver>=0.0.8"),
        serves=">=0.4.9,<0.4.10",
    ),
    Release(
        version="0.4.10.post2",
        patch_set="sglang_patch.v0_4_10_post2",
        native_tags=True,
        stack=("torch==2.7.1", "transformers==4.54.1", "torch_memory_saver>=0.0.8"),
        serves=">=0.4.10,<0.5",
    ),
    Release(
        version="0.5.2",
        patch_set="sglang_patch.v0_5_2",
        native_tags=True,
        stack=("torch==2.8.0", "transformers==4.56.1", "torch_memory_saver>=0.0.8"),
        serves=">=0.5.2,<0.5.4",
    ),
    Release(
        version="0.5.5",
        patch_set="sglang_patch.v0_5_5",
        native_tags=True,
        stack=("torch==2.8.0", "transformers==4.57.1", "torch_memory_saver>=0.0.9"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.4.post2,<0.5.5.post1",
    ),
    Release(
        version="0.5.5.post1",
        patch_set="sglang_patch.v0_5_5_post1",
        native_tags=True,
        stack=("torch==2.8.0", "transformers==4.57.1", "torch_memory_saver>=0.0.9"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.5.post1,<0.5.6",
    ),
    Release(
        version="0.5.6",
        patch_set="sglang_patch.v0_5_6",
        native_tags=True,
        stack=("torch==2.9.1", "transformers==4.57.1", "torch_memory_saver>=0.0.9"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.6,<0.5.7",
    ),
    Release(
        version="0.5.9",
        patch_set="sglang_patch.v0_5_9",
        native_tags=True,
        stack=("torch==2.9.1", "transformers==4.57.1", "torch_memory_saver>=0.0.9"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.7,<0.5.10",
    ),
    Release(
        version="0.5.10.post1",
        patch_set="sglang_patch.v0_5_10_post1",
        native_tags=True,
        stack=("torch==2.9.1", "transformers==5.3.0", "torch_memory_saver>=0.0.9"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.10,<0.5.11",
    ),
    Release(
        version="0.5.12.post1",
        patch_set="sglang_patch.v0_5_12_post1",
        native_tags=True,
        stack=("torch==2.11.0", "transformers==5.6.0", "torch_memory_saver>=0.0.9.post1"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.11,<0.5.13",
    ),
    Release(
        version="0.5.15.post1",
        patch_set="sglang_patch.v0_5_15_post1",
        native_tags=True,
        stack=("torch==2.11.0", "transformers==5.12.1", "torch_memory_saver>=0.0.9.post1"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.15,<0.5.17",
    ),
    Release(
        version="0.5.17",
        patch_set="sglang_patch.v0_5_17",
        native_tags=True,
        stack=("torch==2.11.0", "transformers==5.12.1", "torch_memory_saver>=0.0.9.post1"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.17,<0.5.18",
    ),
    Release(
        version="0.5.23",
        patch_set="sglang_patch.v0_5_23",
        native_tags=True,
        stack=("torch==2.14.1", "transformers==5.19.0", "torch_memory_saver>=0.0.9.post1"),
        cpu_sglang_no_deps=True,
        serves=">=0.5.23,<0.5.24",
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
    """The tested releases."""
    return tuple(r.version for r in RELEASES)


def supported_ranges() -> Tuple[str, ...]:
    """The ranges the patch sets serve, one per tested release."""
    return tuple(r.spec for r in RELEASES)


def release_for(version: str) -> Release:
    """The tested release ``version`` (KeyError if it is not one)."""
    for release in RELEASES:
        if release.version == version:
            return release
    raise KeyError(version)


def serving_release(version: str) -> Optional[Release]:
    """The tested release whose patch set serves ``version``: itself, else the one whose range has it."""
    try:
        return release_for(version)
    except KeyError:
        return next((r for r in RELEASES if r.covers(version)), None)


def unsupported_message(found: str, what: str = "sglang_patch") -> str:
    """The error for an SGLang release that no patch set covers: the ranges, the tested releases,
    and what to do."""
    ranges = "; ".join(f"{r.spec} (tested: {r.version})" for r in RELEASES)
    pins = " or ".join(f"pip install 'sglang=={v}'" for v in supported_versions())
    return (
        f"sglang_patch: {what}, but found sglang {found}. Supported ranges: {ranges}. "
        f"Install a supported release ({pins}), or run without sglang_patch."
    )


_said_untested = set()


def patch_set(version: str):
    """The patch-set module for an installed SGLang version (UnsupportedSGLangVersion if none).
    A release inside a range but not tested itself is served, with one warning per process."""
    from sglang_patch._core import UnsupportedSGLangVersion

    release = serving_release(version)
    if release is None:
        raise UnsupportedSGLangVersion(unsupported_message(version, "no patch set for this release"))
    if release.version != version and version not in _said_untested:
        _said_untested.add(version)
        logger.warning("sglang_patch: sglang %s is inside the range %s but untested; applying the patch set "
                       "tested on sglang %s", version, release.spec, release.version)
    return importlib.import_module(release.patch_set)
