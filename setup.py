"""Packaging that pyproject.toml cannot say: the wheel puts ``sglang_tagged_memory.pth`` into
site-packages (its one line turns the package on where ``SGLANG_TAGGED_MEMORY`` is set; see
sglang_patch_autoload.py), in a normal install and in an editable one (``pip install -e``)."""

import os

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "sglang_tagged_memory.pth"
PTH_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), PTH)


class BuildPyWithPth(build_py):
    """A wheel carries the .pth at its root (site-packages once installed)."""

    def run(self):
        super().run()
        if not self.editable_mode:
            self.copy_file(PTH_SOURCE, os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


class EditableWheelWithPth(editable_wheel):
    """An editable wheel holds only setuptools' path hook: add the .pth to it too."""

    def _select_strategy(self, *args, **kwargs):
        strategy = super()._select_strategy(*args, **kwargs)

        class WithPth:
            def __call__(self, wheel, files, mapping):
                strategy(wheel, files, mapping)
                with open(PTH_SOURCE) as f:
                    wheel.writestr(PTH, f.read())

            def __enter__(self):
                strategy.__enter__()
                return self

            def __exit__(self, *exc):
                return strategy.__exit__(*exc)

        return WithPth()


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
