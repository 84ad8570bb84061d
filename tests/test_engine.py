"""The same staged sequence through ``sglang.Engine`` in-process (its scheduler is still spawned)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import DEVICE, REPO, server_env
from server_ext.envs import prepend_pythonpath


@pytest.fixture(scope="module")
def scenario(tiny_model, tmp_path_factory):
    env = server_env(str(tmp_path_factory.mktemp("engine")))
    prepend_pythonpath(env, REPO)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "engine_scenario.py"), tiny_model, DEVICE],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_engine_releases_and_resumes_by_tag(scenario):
    assert scenario["release_kv"]["released_tags"] == ["kv_cache"]
    assert scenario["release_weights"]["released_tags"] == ["kv_cache", "weights"]
    assert scenario["release_again"]["changed_tags"] == ["cuda_graph"]  # all: the one tag still resident
    assert scenario["resume_weights"]["released_tags"] == ["cuda_graph", "kv_cache"]
    assert scenario["resume_kv"]["released_tags"] == []


def test_engine_rejects_unknown_tags(scenario):
    assert "unknown tag(s) ['bogus']" in scenario["bogus_error"]


def test_engine_staged_update_restores_outputs(scenario):
    """From tensors on GPU; from disk on CPU, where 0.4.6.post5 cannot take tensors."""
    assert scenario["update_route"] == ("disk" if DEVICE == "cpu" else "tensor")
    assert scenario["update"][0] is True
    ref = scenario["reference"]
    assert all(ref) and len(set(ref)) == len(ref)
    assert scenario["after_staged_update"] == ref


def test_engine_refuses_generation_on_stale_weights(scenario):
    """test_staged_update.py's control shows those outputs would be garbage."""
    assert scenario["stale_error"]["error"] == "weights_stale"
    assert "update_weights_from_tensor" in scenario["stale_error"]["message"]


def test_engine_status_after_the_staged_update(scenario):
    status = scenario["status_before_kv"]
    assert status["released_tags"] == ["cuda_graph", "kv_cache"]
    assert status["weights_current"] is True  # the update made them current again
    assert len(status["ranks"]) == 1


def test_engine_refuses_a_request_that_raced_a_release_with_the_same_error(scenario):
    """Checked by the frontend, then met released memory in the scheduler: GenerationRefusedError, no hang."""
    assert scenario["race_error"]["error"] == "memory_released"
    assert scenario["race_error"]["released_tags"] == ["kv_cache"]
    assert "/resume_memory_occupation" in scenario["race_error"]["message"]
    assert scenario["after_race"] == scenario["reference"]
