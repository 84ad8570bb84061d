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


def test_extras_pin_each_supported_release_and_its_stack():
    extras = pyproject()["project"]["optional-dependencies"]
    for release in versions.RELEASES:
        v = release.extra_suffix
        stack = f"sglang-tagged-memory[stack-{v}]"
        if release.cpu_sglang_no_deps:  # sglang has no srt/srt_cpu extras; setup.sh adds sglang --no-deps on a CPU
            assert extras[f"sglang-{v}"] == [stack, f"sglang=={release.version}"]
            assert extras[f"cpu-{v}"][0] == stack and not any(r.startswith("sglang") for r in extras[f"cpu-{v}"][1:])
        else:
            assert extras[f"sglang-{v}"] == [stack, f"sglang[srt]=={release.version}"]
            assert extras[f"cpu-{v}"] == [stack, f"sglang[srt_cpu]=={release.version}"]
        for pin in release.stack:
            assert pin in extras[f"stack-{v}"], f"{pin} of sglang {release.version} is not in its stack extra"
    primary = versions.RELEASES[0].extra_suffix  # the README's commands install it
    assert extras["sglang"] == [f"sglang-tagged-memory[sglang-{primary}]"]
    assert extras["cpu"] == [f"sglang-tagged-memory[cpu-{primary}]"]


def test_the_scripts_pick_the_venv_of_each_release():
    import subprocess

    clean = {k: v for k, v in os.environ.items() if k != "SGLANG_VENV"}  # a lane's venv would win over the default
    for release in versions.RELEASES:
        env = dict(clean, SGLANG_VERSION=release.version)
        out = subprocess.run(["bash", "scripts/sglang-version.sh", "--venv"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == (".venv" if release is versions.RELEASES[0] else f".venv-{release.version}")
    bad = subprocess.run(["bash", "scripts/sglang-version.sh"], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, SGLANG_VERSION="0.0.1"))
    assert bad.returncode != 0 and versions.RELEASES[0].version in bad.stderr


def test_every_release_has_its_patch_set_with_its_spec():
    for release in versions.RELEASES:
        module = importlib.import_module(release.patch_set)
        assert module.PATCHES and all(p.sglang_spec == release.spec for p in module.PATCHES)
        folder = "v" + re.sub(r"\W", "_", release.version)
        assert release.patch_set == f"sglang_patch.{folder}"


def test_the_wheel_leaves_the_dev_tooling_out():
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "sglang_patch_dev" not in include and not any(i.endswith("*") and "sglang_patch_dev".startswith(i[:-1]) for i in include)


def test_every_release_says_whether_it_has_a_source_series():
    """A release ships the change in both forms unless the table says it does not yet (the
    source-form steps skip a release without a series, so a missing one would pass unnoticed)."""
    for release in versions.RELEASES:
        has = os.path.isfile(os.path.join(REPO, "patches", release.version, "series"))
        assert has == release.source_series, release.version
