"""A wrong set-up fails in seconds with the reason, instead of hanging: a scheduler process that
dies during start-up ends ``server_ext.launch`` (exit 1) and ``sglang.Engine(...)`` (StartupError).

The real case, as a new user meets it: ``--enable-memory-saver`` with the real torch_memory_saver
on a machine without an NVIDIA driver. Its LD_PRELOAD library needs libcuda.so.1, so the dynamic
loader kills the scheduler child (exit 127) before Python runs, and stock SGLang waits forever.
And the general case: a scheduler killed (SIGKILL, as the OOM killer does) while it loads.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ON_CPU, REPO, server_env
from server_ext.envs import prepend_pythonpath
from sglang_patch_dev import device_flags

pytestmark = pytest.mark.skipif(not ON_CPU, reason="needs a machine without an NVIDIA driver")

# Three runs import SGLang side by side: 20-40 s here, longer on a first import of a freshly built
# source-form tree (no bytecode yet), and past 120 s on a machine with four other servers starting
# beside them (seen 2026-12-02). A hang runs into this limit.
TIMEOUT_S = 240


def env_with_the_real_memory_saver(tmp_path) -> dict:
    env = prepend_pythonpath(dict(os.environ), REPO)  # and not the CPU stand-in of the other tests
    env["TMPDIR"] = str(tmp_path)
    env["TORCHDYNAMO_DISABLE"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # a hang's SIGABRT prints where every thread waits
    return env


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory):
    """The launcher and the Engine, started side by side (each waits mostly on imports)."""
    tmp = tmp_path_factory.mktemp("startup")
    env = env_with_the_real_memory_saver(tmp)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "server_ext.launch", "--model-path", tiny_model, *device_flags.server_flags("cpu"),
         "--enable-memory-saver"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    engine = subprocess.Popen([sys.executable, os.path.join(REPO, "tests", "startup_scenario.py"), tiny_model],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    killed = subprocess.Popen(  # a healthy set-up (the CPU stand-in), whose scheduler the test kills
        [sys.executable, "-m", "server_ext.launch", "--model-path", tiny_model, *device_flags.server_flags("cpu"),
         "--enable-memory-saver"],
        cwd=REPO, env=server_env(str(tmp)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    started = time.monotonic()
    kill_the_scheduler(killed, deadline=started + TIMEOUT_S)
    out = {}
    for name, proc in (("launcher", launcher), ("engine", engine), ("killed", killed)):
        try:
            stdout, stderr = proc.communicate(timeout=max(1, TIMEOUT_S - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler: the stacks of a hang, for the report
            try:
                stdout, stderr = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                stdout, stderr = proc.communicate()
            kill_group(proc)
            out[name] = {"hung": True, "stdout": stdout, "stderr": stderr or ""}
            continue
        out[name] = {"hung": False, "rc": proc.returncode, "stdout": stdout, "stderr": stderr or "",
                     "seconds": time.monotonic() - started}
    return out


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_the_scheduler(launcher: subprocess.Popen, deadline: float) -> None:
    """SIGKILL the launcher's scheduler process as soon as it exists (it then loads for seconds)."""
    import psutil

    while time.monotonic() < deadline and launcher.poll() is None:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            try:
                if "sglang::scheduler" in " ".join(child.cmdline()):
                    child.kill()
                    return
            except psutil.Error:
                pass
        time.sleep(0.05)
    pytest.fail("the scheduler process never appeared")


def not_hung(run, name):
    assert not run["hung"], f"{name} still waiting after {TIMEOUT_S}s: the start-up hang is back\n{run['stdout'][-3000:]}\n{run['stderr'][-3000:]}"


def test_launcher_exits_with_the_childs_reason(runs):
    run = runs["launcher"]
    not_hung(run, "launcher")
    assert run["rc"] == 1, run["stdout"][-3000:]
    last = run["stdout"].strip().splitlines()[-1]
    assert last.startswith("server_ext.launch: a process SGLang started for the server"), run["stdout"][-3000:]
    assert "exited with code 127 during start-up" in last and "libcuda.so.1" in last


def test_engine_raises_startup_error_with_the_childs_reason(runs):
    run = runs["engine"]
    not_hung(run, "Engine")
    assert run["rc"] == 0, run["stderr"][-3000:]
    result = json.loads(run["stdout"].strip().splitlines()[-1])
    assert result["raised"] == "StartupError", result
    assert "exited with code 127 during start-up" in result["message"] and "--enable-memory-saver" in result["message"]
    assert result["seconds"] < 30, result  # once SGLang is imported, the failure is seen at once


def test_a_scheduler_killed_while_loading_ends_the_launcher_with_the_signal(runs):
    run = runs["killed"]
    not_hung(run, "launcher")
    assert run["rc"] == 1, run["stdout"][-3000:]
    last = run["stdout"].strip().splitlines()[-1]
    assert "was killed by signal SIGKILL during start-up" in last and "out-of-memory killer" in last, run["stdout"][-3000:]
