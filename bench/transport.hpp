// failover benchmarks: the stand-in transport every benchmark calls, directly or through a
// pipeline, so that each figure is read against plain_call in the same run.
#ifndef FAILOVER_BENCH_TRANSPORT_HPP_INCLUDED
#define FAILOVER_BENCH_TRANSPORT_HPP_INCLUDED

#include "alloc_counter.hpp"

#include <failover/fault.hpp>

#include <benchmark/benchmark.h>

namespace bench_transport {

/// The transport's result: a payload and whether the exchange worked.
struct reply {
    int value;
    bool ok;
};

/// Found by ADL. Selecting the fault (rather than one of two whole verdicts) lets both compilers
/// compute it without a branch; `r.ok ? success : verdict{...}` made g++ split the loop on a
/// taken branch and cost ~0.4 ns that had nothing to do with the pipeline.
constexpr failover::verdict failover_classify(const reply& r) noexcept {
    return failover::verdict{.kind = r.ok ? failover::fault::none : failover::fault::unavailable};
}

// Volatile, so that neither field of a reply can be known at compile time (clang propagates
// constant return values across functions even when they are not inlined).
inline volatile int reply_value = 42;
inline volatile bool reply_ok = true;

/// The stand-in for an HTTP call: as cheap as a call can be, and never inlined.
[[gnu::noinline]] inline reply transport() { return reply{reply_value, reply_ok}; }

/// A transport that always fails, for the failure paths.
[[gnu::noinline]] inline reply failing_transport() { return reply{reply_value, false}; }

/// The loop every pipeline benchmark runs: one call of `transport` through `pipeline` per
/// iteration, observing the same two things plain_call observes (the payload and whether the
/// call succeeded), copied out into locals. DoNotOptimize on the result itself would force the
/// whole failover::result into memory every iteration: a cost of the measurement, not of the
/// pipeline, that a caller reading `r.ok()` and `r->value` never pays.
/// The transport is a template argument so that the call is a direct one, as in plain_call: a
/// function reference passed as a parameter became an indirect call and cost up to 2 ns.
template <auto& Transport, class Pipeline>
void run_calls(benchmark::State& state, Pipeline& pipeline) {
    failover_bench::alloc_scope allocs(state);
    for (auto _ : state) {
        auto r = pipeline(Transport);
        int value = r->value;
        bool ok = r.ok();
        benchmark::DoNotOptimize(value);
        benchmark::DoNotOptimize(ok);
    }
}

}  // namespace bench_transport

#endif  // FAILOVER_BENCH_TRANSPORT_HPP_INCLUDED
