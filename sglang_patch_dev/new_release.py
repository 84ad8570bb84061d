"""The mechanical part of adding an SGLang release (docs/adding-a-release.md):

    python -m sglang_patch_dev.new_release 0.5.16 --base 0.5.15.post1            # print what to add
    python -m sglang_patch_dev.new_release 0.5.16 --base 0.5.15.post1 --write    # and write it

From the release's own wheel metadata (``pip download --no-deps``: its ``Requires-Dist``) it
makes pyproject's ``stack-<v>``, ``sglang-<v>`` and ``cpu-<v>`` extras (the CPU extra is SGLang's
requirements minus the CUDA-only wheels, the ARM-only ones and the stack's, since PyPI's sglang
0.5.x has no CPU extra and a CPU machine installs sglang ``--no-deps``), the version table's
entry (with the base's range conventions left to you: ``serves`` is only the release itself),
the patch set ``sglang_patch/v<...>/__init__.py`` derived unchanged from the base's, and the
device kit's wheel list (the base's, with this sglang). What cannot be generated — what moved in
SGLang, the source series, the CI lane — the recipe says.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict, List, Tuple

from packaging.requirements import Requirement

from sglang_patch import versions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Wheels that need CUDA (or are built only for it): never in a cpu-<v> extra.
CUDA_ONLY = {
    "cuda-python", "decord", "decord2", "flash-attn-4", "flashinfer-cubin", "flashinfer-jit-cache", "flashinfer-python",
    "helion", "humming-kernels", "nvidia-cutlass-dsl", "nvidia-mathdx", "quack-kernels", "sgl-deep-gemm", "sgl-kernel",
    "sglang-kernel", "tilelang", "tokenspeed-mla", "torchcodec",
}
# What the stack extra pins (or the package itself needs): left out of the cpu list, which includes the stack.
STACK = ("torch", "transformers", "torch-memory-saver")
IN_STACK = {"torch", "transformers", "fastapi", "uvicorn", "requests", "uvloop"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(metadata: str) -> List[Requirement]:
    """The unconditional ``Requires-Dist`` lines of an sglang wheel's METADATA that apply to x86-64 Linux."""
    out = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is not None:
            if "extra" in str(req.marker):
                continue
            if not req.marker.evaluate({"sys_platform": "linux", "platform_machine": "x86_64", "extra": ""}):
                continue
        out.append(req)
    return out


def extras(version: str, metadata: str) -> Tuple[List[str], List[str]]:
    """(the stack extra's pins, the cpu extra's requirements) for sglang ``version``."""
    reqs = requirements(metadata)
    by_name: Dict[str, Requirement] = {_canonical(r.name): r for r in reqs}
    stack = []
    for name in STACK:
        req = by_name.get(name)
        if req is None:
            continue
        spec = str(req.specifier)
        if name == "torch-memory-saver":  # the package needs its tags; the release's own pin goes in the cpu list
            spec = ">=" + spec.lstrip("=<>~!") if spec else ">=0.0.8"
        stack.append(f"{req.name}{spec}")
    cpu = [_without_extras(r) for r in reqs
           if _canonical(r.name) not in CUDA_ONLY and _canonical(r.name) not in IN_STACK]
    return stack, cpu


def _without_extras(req: Requirement) -> str:
    return f"{req.name}{req.specifier}"


def pyproject_block(version: str, stack: List[str], cpu: List[str]) -> str:
    suffix = re.sub(r"[^a-z0-9]+", "-", version.lower())
    lines = [f"stack-{suffix} = ["]
    lines += [f'    "{pin}",' for pin in stack]
    lines += ['    "fastapi>=0.115",', '    "uvicorn>=0.34",', '    "requests>=2.28",', '    "uvloop==0.21.0",', "]"]
    lines.append(f'sglang-{suffix} = ["sglang-tagged-memory[stack-{suffix}]", "sglang=={version}"]')
    lines.append("# No CPU extra on PyPI: sglang goes in with --no-deps and this extra carries the rest of its")
    lines.append("# requirements, minus the CUDA-only and ARM-only ones (sglang_patch_dev/new_release.py).")
    lines.append(f"cpu-{suffix} = [")
    lines.append(f'    "sglang-tagged-memory[stack-{suffix}]",')
    row = "   "
    for item in cpu:
        piece = f' "{item}",'
        if len(row) + len(piece) > 110:
            lines.append(row)
            row = "   "
        row += piece
    lines += [row, "]"]
    return "\n".join(lines) + "\n"


def package_name(version: str) -> str:
    return "v" + re.sub(r"\W", "_", version)


def release_entry(version: str, stack: List[str], base: versions.Release) -> str:
    pins = ", ".join(f'"{p}"' for p in stack)
    return (f'    Release(\n        version="{version}",\n        patch_set="sglang_patch.{package_name(version)}",\n'
            f'        native_tags={base.native_tags},\n        stack=({pins}),\n        cpu_sglang_no_deps=True,\n'
            f'        source_series=False,  # not ported yet\n    ),\n')


def patch_set_module(version: str, base: versions.Release) -> str:
    return (f'"""The patch set for SGLang {version}: {base.version}\'s, unchanged (generated by '
            f'sglang_patch_dev.new_release;\nsay here what differs once the tests have run)."""\n\n'
            f"from sglang_patch import {package_name(base.version)}\nfrom sglang_patch._core import derive_patch_set\n\n"
            f'PATCHES = derive_patch_set({package_name(base.version)}.PATCHES, "{version}")\n')


def wheel_metadata(version: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"sglang=={version}", "-d", tmp],
                       check=True)
        (wheel,) = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
            (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
            return z.read(name).decode()


def write(version: str, base: versions.Release, stack: List[str], cpu: List[str]) -> List[str]:
    """Add the release after ``base`` in pyproject.toml, versions.py, its patch set and wheel list."""
    written = []
    path = os.path.join(REPO, "pyproject.toml")
    text = open(path).read()
    anchor = "# The primary release (the README's commands)."
    text = text.replace(anchor, pyproject_block(version, stack, cpu) + anchor, 1)
    open(path, "w").write(text)
    written.append(path)
    path = os.path.join(REPO, "sglang_patch", "versions.py")
    text = open(path).read()
    marker = f'        version="{base.version}",'
    start = text.index(marker)
    end = text.index("\n    ),\n", start) + len("\n    ),\n")
    text = text[:end] + release_entry(version, stack, base) + text[end:]
    open(path, "w").write(text)
    written.append(path)
    folder = os.path.join(REPO, "sglang_patch", package_name(version))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "__init__.py"), "w") as f:
        f.write(patch_set_module(version, base))
    written.append(folder)
    kit = os.path.join(REPO, "scripts", "device-kit")
    source = os.path.join(kit, f"wheels-{base.version}.txt")
    if os.path.exists(source):
        lines = [f"sglang=={version}" if line.startswith("sglang==") else line for line in open(source).read().splitlines()]
        with open(os.path.join(kit, f"wheels-{version}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        written.append(os.path.join(kit, f"wheels-{version}.txt"))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("version")
    ap.add_argument("--base", required=True, help="the tested release whose patch set the new one derives from")
    ap.add_argument("--write", action="store_true", help="write the files (default: print them)")
    args = ap.parse_args(argv)
    base = versions.release_for(args.base)
    stack, cpu = extras(args.version, wheel_metadata(args.version))
    if args.write:
        for path in write(args.version, base, stack, cpu):
            print("wrote", os.path.relpath(path, REPO))
        print("next: docs/adding-a-release.md, from step 3; its source series, once the set is right: "
              f"python -m sglang_patch_dev.series port --from {base.version} --to {args.version}")
        return 0
    print(pyproject_block(args.version, stack, cpu))
    print(release_entry(args.version, stack, base))
    print(patch_set_module(args.version, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
