#!/usr/bin/env bash
# The pytest arguments for parallel workers, for scripts/test.sh and scripts/test-source-form.sh:
# two workers (TEST_WORKERS=1: none), a whole module each at a time (its servers are module
# fixtures). Most of the suite's time is SGLang starting (imports, mostly on one core), so a
# second module's server starts meanwhile.
WORKERS=${TEST_WORKERS:-2}
if [ "$WORKERS" -gt 1 ]; then echo "-n $WORKERS --dist loadfile"; fi
