"""The version table (sglang_patch/versions.py) is the one source: pyproject's extras and the
patch sets agree with it."""

import importlib
import os
import re
import tomllib

from conftest import REPO
from sglang_patch import versions


def pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_extras_pin_each_supported_release_and_share_one_stack():
    extras = pyproject()["project"]["optional-dependencies"]
    for release in versions.RELEASES:
        assert f"sglang[srt]=={release.version}" in extras["sglang"]
        assert f"sglang[srt_cpu]=={release.version}" in extras["cpu"]
        for pin in release.stack:
            assert pin in extras["stack"], f"{pin} of sglang {release.version} is not in the stack extra"
    assert "sglang-tagged-memory[stack]" in extras["sglang"] and "sglang-tagged-memory[stack]" in extras["cpu"]


def test_every_release_has_its_patch_set_with_its_spec():
    for release in versions.RELEASES:
        module = importlib.import_module(release.patch_set)
        assert module.PATCHES and all(p.sglang_spec == release.spec for p in module.PATCHES)
        folder = "v" + re.sub(r"\W", "_", release.version)
        assert release.patch_set == f"sglang_patch.{folder}"


def test_the_wheel_leaves_the_dev_tooling_out():
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "sglang_patch_dev" not in include and not any(i.endswith("*") and "sglang_patch_dev".startswith(i[:-1]) for i in include)
