// failover benchmarks: what the pipeline itself costs on the happy path.
//
//   plain_call      the transport called directly: the floor every other figure is read against
//   empty_pipeline  the same transport through failover::pipeline() with no policies: one
//                   attempt, classified once, wrapped in a failover::result
//
// Both are registered single-threaded and with ->Threads(2) (one pipeline object shared by the
// two threads, as a service would share it). Compare CPU time at the same thread count.
#include "alloc_counter.hpp"

#include <failover/pipeline.hpp>

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
volatile int reply_value = 42;
volatile bool reply_ok = true;

/// The stand-in for an HTTP call: as cheap as a call can be, and never inlined.
[[gnu::noinline]] reply transport() { return reply{reply_value, reply_ok}; }

}  // namespace bench_transport

namespace {

using bench_transport::reply;
using bench_transport::transport;

// Both loops observe the same two things, copied out into locals: the reply's payload and
// whether the call succeeded. Not the reply itself: DoNotOptimize on a reference into the
// result would force the whole failover::result (reply, verdict, report) into memory every
// iteration, and on a whole `reply` g++ keeps its padding bytes in a register carried from one
// iteration to the next (a loop-carried and/or chain). Both are costs of the measurement, not
// of the pipeline, that a caller reading `r.ok()` and `r->value` never pays.

void plain_call(benchmark::State& state) {
    failover_bench::alloc_scope allocs(state);
    for (auto _ : state) {
        reply r = transport();
        int value = r.value;
        bool ok = r.ok;
        benchmark::DoNotOptimize(value);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(plain_call);
BENCHMARK(plain_call)->Threads(2);

// One object for every thread, built at compile time.
constinit auto shared_empty_pipeline = failover::pipeline();

void empty_pipeline(benchmark::State& state) {
    failover_bench::alloc_scope allocs(state);
    for (auto _ : state) {
        failover::result<reply> r = shared_empty_pipeline(transport);
        int value = r.value().value;
        bool ok = r.ok();
        benchmark::DoNotOptimize(value);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(empty_pipeline);
BENCHMARK(empty_pipeline)->Threads(2);

}  // namespace
