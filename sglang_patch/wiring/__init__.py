"""Release-neutral wiring: one module per concern, holding that concern's base patch.

Each module wires the shared logic (``sglang_patch.memory_occupation``) into its SGLang targets
and declares the patch: name, targets, process, requires. The release sets
(``sglang_patch.v0_*``) are built from these classes; the dotted targets are public constants
here, so a set names them without reaching into another set.
"""
