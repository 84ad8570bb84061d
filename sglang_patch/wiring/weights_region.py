"""Patch ``weights_region``: the model's weights are allocated under the tag ``weights``.

Stock ``ModelRunner.load_model`` opens an untagged memory-saver region around ``get_model``
(model_runner.py:533). The wrapper runs the stock method with ``weights`` as the default region
tag, so that region, and only it, is tagged. Upstream: sgl-project/sglang#7099 (0.4.8) passes
``GPU_MEMORY_TYPE_WEIGHTS`` at the same call.
"""

from sglang_patch._core import Patch
from sglang_patch.wiring.memory_saver import default_region_tag
from sglang_patch.memory_occupation.tags import WEIGHTS


class WeightsRegionPatch(Patch):
    name = "weights_region"
    targets = ("sglang.srt.model_executor.model_runner.ModelRunner.load_model",)
    process = "scheduler"
    requires = ("memory_saver",)
    summary = "ModelRunner.load_model allocates the weights under tag 'weights'"

    def replacements(self):
        (target,) = self.targets
        stock = self.original(target)

        def load_model(runner, *args, **kwargs):
            with default_region_tag(WEIGHTS):
                return stock(runner, *args, **kwargs)

        return self.marked({target: load_model})
