// failover benchmarks: the retry policy.
//
//   retry_happy_path              pipeline(retry{}) around a transport that succeeds: a loop that
//                                 runs once. Read against plain_call.
//   retry_with_budget             the same with a shared retry_budget attached: one per-thread
//                                 counter increment per call. Single-threaded and ->Threads(2)
//                                 (one budget and one pipeline shared by both threads); read
//                                 against plain_call at the same thread count.
//   retry_failed_attempt          a call whose two attempts both fail (max_attempts = 2): two
//                                 transport calls, two classifications, one jittered delay and
//                                 the give-up, on a time source whose sleep returns at once. The
//                                 decision cost of one failed attempt is this minus two plain calls.
#include "alloc_counter.hpp"
#include "transport.hpp"

#include <failover/retry.hpp>

#include <benchmark/benchmark.h>

namespace {

using bench_transport::failing_transport;
using bench_transport::transport;

// Sleeps without sleeping: the failure path's cost without the wait it asks for.
struct no_sleep_time {
    failover::time_point now() const noexcept { return failover::time_point{}; }
    void sleep_for(failover::duration) const noexcept {}
};

auto shared_retry = failover::pipeline(failover::retry{});

void retry_happy_path(benchmark::State& state) { bench_transport::run_calls<transport>(state, shared_retry); }
BENCHMARK(retry_happy_path);

failover::retry_budget shared_budget;
auto shared_budgeted_retry = failover::pipeline(failover::retry{{.budget = &shared_budget}});

void retry_with_budget(benchmark::State& state) { bench_transport::run_calls<transport>(state, shared_budgeted_retry); }
BENCHMARK(retry_with_budget);
BENCHMARK(retry_with_budget)->Threads(2);

auto failing_retry = failover::pipeline(failover::retry{{.max_attempts = 2}}).with_time(no_sleep_time{});

void retry_failed_attempt(benchmark::State& state) { bench_transport::run_calls<failing_transport>(state, failing_retry); }
BENCHMARK(retry_failed_attempt);

}  // namespace
