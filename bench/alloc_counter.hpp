// failover benchmarks: heap allocations counted per thread, reported as `allocs_per_op`.
//
// main.cpp replaces the global operator new/new[]/delete/delete[] (plain, sized, aligned,
// nothrow) with versions that count every allocation of the calling thread (under clang's
// ThreadSanitizer, which forbids that, it counts through the sanitizer's malloc hook). A
// benchmark puts one `alloc_scope` in front of its `for (auto _ : state)` loop:
//
//     void my_bench(benchmark::State& state) {
//         failover_bench::alloc_scope allocs(state);
//         for (auto _ : state) { ... }
//     }
//
// With ->Threads(n) each thread has its own State and counter; Google Benchmark sums the
// counters over the threads and kAvgIterations divides by the iterations of all threads,
// so the figure stays "allocations per call" at any thread count.
#ifndef FAILOVER_BENCH_ALLOC_COUNTER_HPP_INCLUDED
#define FAILOVER_BENCH_ALLOC_COUNTER_HPP_INCLUDED

#include <benchmark/benchmark.h>

#include <cstdint>

namespace failover_bench {

/// Allocations (calls of any global operator new) made by the calling thread so far.
std::uint64_t thread_allocations() noexcept;

/// Counts the allocations the current thread makes during its lifetime and reports them as
/// `allocs_per_op` when it ends. Construct it before the benchmark loop, in the same scope.
class alloc_scope {
public:
    explicit alloc_scope(benchmark::State& state) noexcept : state_(state), start_(thread_allocations()) {}
    alloc_scope(const alloc_scope&) = delete;
    alloc_scope& operator=(const alloc_scope&) = delete;

    ~alloc_scope() {
        // Read before touching `counters`: inserting into that std::map allocates.
        const std::uint64_t made = thread_allocations() - start_;
        state_.counters["allocs_per_op"] = benchmark::Counter(static_cast<double>(made), benchmark::Counter::kAvgIterations);
    }

private:
    benchmark::State& state_;
    std::uint64_t start_;
};

}  // namespace failover_bench

#endif  // FAILOVER_BENCH_ALLOC_COUNTER_HPP_INCLUDED
