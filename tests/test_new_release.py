"""sglang_patch_dev.new_release: the extras and files it generates for a new SGLang release, from
wheel metadata written here (the real command downloads the release's wheel)."""

import ast
import tomllib

from sglang_patch import versions
from sglang_patch_dev import new_release

METADATA = """Metadata-Version: 2.4
Name: sglang
Version: 0.5.99
Requires-Dist: aiohttp
Requires-Dist: av; sys_platform == "linux" and (platform_machine == "aarch64" or platform_machine == "arm64")
Requires-Dist: cuda-python>=13.0
Requires-Dist: fastapi
Requires-Dist: flashinfer_python[cu13]==0.6.12
Requires-Dist: IPython
Requires-Dist: sglang-kernel==0.4.4
Requires-Dist: torch==2.11.0
Requires-Dist: torch_memory_saver>=0.0.9.post1
Requires-Dist: torchaudio==2.11.0
Requires-Dist: torchcodec==0.11.1; sys_platform != "linux" or (sys_platform == "linux" and platform_machine != "aarch64")
Requires-Dist: transformers==5.12.1
Requires-Dist: uvloop
Requires-Dist: xgrammar==0.2.1
Requires-Dist: checkpoint-engine==0.1.2; extra == "checkpoint-engine"
"""


def test_extras_keep_what_a_cpu_needs_and_pin_the_stack():
    stack, cpu = new_release.extras("0.5.99", METADATA)
    assert stack == ["torch==2.11.0", "transformers==5.12.1", "torch_memory_saver>=0.0.9.post1"]
    assert cpu == ["aiohttp", "IPython", "torch_memory_saver>=0.0.9.post1", "torchaudio==2.11.0", "xgrammar==0.2.1"]


def test_generated_files_parse_and_name_the_base():
    stack, cpu = new_release.extras("0.5.99", METADATA)
    block = tomllib.loads(new_release.pyproject_block("0.5.99", stack, cpu))
    assert block["stack-0-5-99"][:3] == stack
    assert block["sglang-0-5-99"] == ["sglang-tagged-memory[stack-0-5-99]", "sglang==0.5.99"]
    assert block["cpu-0-5-99"] == ["sglang-tagged-memory[stack-0-5-99]", *cpu]
    base = versions.RELEASES[-1]
    ast.parse(new_release.release_entry("0.5.99", stack, base).strip().rstrip(","))
    module = new_release.patch_set_module("0.5.99", base)
    assert f"from sglang_patch import {new_release.package_name(base.version)}" in module
    ast.parse(module)
