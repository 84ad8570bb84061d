"""Release-neutral wiring: one module per concern, holding that concern's base patch.

A module wires the shared logic (``sglang_patch.memory_occupation``) into SGLang's targets and
declares the patch: name, targets, process, requires. Its dotted targets are public constants, so
a release set names them without reaching into another set. The release sets
(``sglang_patch.v0_*``) are the thin layer on top: each lists these patches in application order
and configures them for its release; 0.4.6.post5's set uses the bases as they are.

Hooks are data, and only data: class attributes. What differs between releases while the wiring
stays the same (where the handlers live, which weight updates exist, which tags SGLang pauses
itself, the class the status request derives from, the flags SGLang has) is a class attribute of
the base, listed under "Hooks" in its docstring with its default (0.4.6.post5's layout);
``targets`` and ``shapes`` follow from the hooks. A release set sets hooks on a subclass of a
class of this package and defines nothing else there: no methods, no overrides of behaviour.

Where SGLang replaced the mechanism itself (msgspec io structs, a ``ServerArgs`` record,
per-phase CUDA-graph backends, a process target passed as an argument), the difference is code,
and lives here: a named variant class next to its base in the same module, whose docstring names
the releases it is for. Behaviour inside a base or variant is plain methods; variants override
them, release sets never do. A configuration several releases share without deriving from each
other is a named variant too (``SpecsTokenizerManagerPatch``).

So a class in a release set subclasses a class of ``sglang_patch.wiring``, never another release
set's; release sets share patches by composition (``_core.derive_patch_set`` from a neighbour's
``PATCHES``).

    module             base (hooks)                                    variants
    memory_saver       MemorySaverPatch
    server_args        ServerArgsPatch (adopts_native_options)         ServerArgsRecordPatch (0.5.23 on)
    weights_region     WeightsRegionPatch
    kv_cache_region    KVCacheRegionPatch (targets: POOLS, DECODE_POOL)
    cuda_graph_region  CudaGraphRegionPatch (requires)                 NativeCudaGraphTagPatch (0.5.4.post2-0.5.12.x),
                                                                       BackendCudaGraphTagPatch (0.5.15.post1 on)
    io_structs         IOStructsPatch (status_base)                    MsgspecIOStructsPatch (0.5.15.post1 on)
    scheduler          SchedulerPatch (requires, native_tags, weight_updates, handler_class, handler_attr)
    tokenizer_manager  TokenizerManagerPatch (weight_updates,          SpecsTokenizerManagerPatch (0.5.12.post1 on)
                       communicator_module, communicator_specs)
    http_routes        HTTPRoutesPatch
    engine             EnginePatch
    startup_watch      StartupWatchPatch
    constants          ConstantsPatch                                  CudaGraphConstantPatch (0.4.8-0.5.3.x)
    subprocess_entry   SubprocessEntryPatch                            ProcessFuncEntryPatch (0.5.9 on)
"""
