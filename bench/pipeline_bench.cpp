// failover benchmarks: what the pipeline itself costs on the happy path.
//
//   plain_call      the transport called directly: the floor every other figure is read against
//   empty_pipeline  the same transport through failover::pipeline() with no policies: one
//                   attempt, classified once, wrapped in a failover::result
//
// Both are registered single-threaded and with ->Threads(2) (one pipeline object shared by the
// two threads, as a service would share it). Compare CPU time at the same thread count.
#include "alloc_counter.hpp"
#include "transport.hpp"

#include <failover/pipeline.hpp>

#include <benchmark/benchmark.h>

namespace {

using bench_transport::reply;
using bench_transport::transport;

// plain_call observes what bench_transport::run_calls observes of a pipeline's result: the
// reply's payload and whether the call succeeded, copied out into locals. Not the reply itself:
// on a whole `reply` g++ keeps its padding bytes in a register carried from one iteration to
// the next (a loop-carried and/or chain), a cost of the measurement.

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

void empty_pipeline(benchmark::State& state) { bench_transport::run_calls<transport>(state, shared_empty_pipeline); }
BENCHMARK(empty_pipeline);
BENCHMARK(empty_pipeline)->Threads(2);

}  // namespace
