// failover benchmarks: the region selector.
//
//   full_pipeline        retry + regions (3 regions by priority, a breaker per region) around
//                        the stand-in transport, the primary healthy: the whole library on the
//                        happy path. Single-threaded and ->Threads(2) on one shared pipeline.
//   regions_scaling/N    regions alone over N = 2, 8, 64 regions, the primary healthy: the
//                        happy path must not grow with the number of regions.
#include "alloc_counter.hpp"
#include "transport.hpp"

#include <failover/regions.hpp>
#include <failover/retry.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

using bench_transport::transport;

struct endpoint {
    std::string url;
};

std::vector<endpoint> three{{"https://a.example"}, {"https://b.example"}, {"https://c.example"}};
auto full = failover::pipeline(failover::retry{}, failover::regions{three, failover::by_priority});

void full_pipeline(benchmark::State& state) { bench_transport::run_calls<transport>(state, full); }
BENCHMARK(full_pipeline);
BENCHMARK(full_pipeline)->Threads(2);

std::vector<endpoint> many(std::size_t n) { return std::vector<endpoint>(n, endpoint{"https://x.example"}); }
std::vector<endpoint> r2 = many(2), r8 = many(8), r64 = many(64);
auto p2 = failover::pipeline(failover::regions{r2, failover::by_priority});
auto p8 = failover::pipeline(failover::regions{r8, failover::by_priority});
auto p64 = failover::pipeline(failover::regions{r64, failover::by_priority});

void regions_scaling(benchmark::State& state) {
    switch (state.range(0)) {
        case 2: bench_transport::run_calls<transport>(state, p2); break;
        case 8: bench_transport::run_calls<transport>(state, p8); break;
        default: bench_transport::run_calls<transport>(state, p64); break;
    }
}
BENCHMARK(regions_scaling)->Arg(2)->Arg(8)->Arg(64);

}  // namespace
