// failover benchmarks: the circuit breaker, closed, around a transport that succeeds.
//
//   breaker_closed/consecutive      pipeline(ref(breaker)) with the default rule (5 failures in a
//                                   row): one atomic load to admit, one store to the calling
//                                   thread's own counter line per success.
//   breaker_closed/count_window     the same with a 100-call count window and a failure-rate rule.
//   breaker_closed/time_window      the same with a 60 s time window (12 buckets): a coarse clock
//                                   read per call places the success in its bucket.
//   breaker_closed/slow_calls       a count window with slow-call tracking: the call is timed with
//                                   two coarse clock reads.
//   .../threads:2                   two threads on one shared breaker; read against
//                                   plain_call/threads:2.
//   mutex_breaker_baseline          a straightforward breaker (consecutive failures) behind a
//                                   std::mutex, written here as the yardstick; also threads:2.
//   breaker_failure_path            every call fails and is counted under the lock (the breaker
//                                   is disabled, so it keeps counting and never opens).
//   breaker_open_rejection          the breaker is open: admission refuses without the lock.
#include "alloc_counter.hpp"
#include "transport.hpp"

#include <failover/circuit_breaker.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <mutex>

namespace {

using bench_transport::failing_transport;
using bench_transport::transport;
using namespace std::chrono_literals;

failover::circuit_breaker consecutive_breaker{};
auto consecutive = failover::pipeline(failover::ref(consecutive_breaker));

failover::circuit_breaker count_breaker{{.window = failover::count_window{.size = 100}}};
auto count_window = failover::pipeline(failover::ref(count_breaker));

failover::circuit_breaker time_breaker{{.window = failover::time_window{.length = 60s, .buckets = 12}}};
auto time_window = failover::pipeline(failover::ref(time_breaker));

failover::circuit_breaker slow_breaker{{.window = failover::count_window{.size = 100}, .slow_call_duration = 10s}};
auto slow_calls = failover::pipeline(failover::ref(slow_breaker));

void breaker_consecutive(benchmark::State& state) { bench_transport::run_calls<transport>(state, consecutive); }
void breaker_count_window(benchmark::State& state) { bench_transport::run_calls<transport>(state, count_window); }
void breaker_time_window(benchmark::State& state) { bench_transport::run_calls<transport>(state, time_window); }
void breaker_slow_calls(benchmark::State& state) { bench_transport::run_calls<transport>(state, slow_calls); }

BENCHMARK(breaker_consecutive)->Name("breaker_closed/consecutive");
BENCHMARK(breaker_consecutive)->Name("breaker_closed/consecutive")->Threads(2);
BENCHMARK(breaker_count_window)->Name("breaker_closed/count_window");
BENCHMARK(breaker_count_window)->Name("breaker_closed/count_window")->Threads(2);
BENCHMARK(breaker_time_window)->Name("breaker_closed/time_window");
BENCHMARK(breaker_time_window)->Name("breaker_closed/time_window")->Threads(2);
BENCHMARK(breaker_slow_calls)->Name("breaker_closed/slow_calls");
BENCHMARK(breaker_slow_calls)->Name("breaker_closed/slow_calls")->Threads(2);

// The yardstick: what a breaker written the obvious way costs. Consecutive failures, open for
// a fixed time, every call through one mutex.
class mutex_breaker {
public:
    mutex_breaker() = default;
    mutex_breaker(mutex_breaker&&) noexcept {}

    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (open_ && ctx.now() < open_until_)
                return decltype(next())(failover::rejection{.reason = failover::rejection_reason::circuit_open});
            open_ = false;
        }
        auto out = next();
        std::lock_guard<std::mutex> lock(mutex_);
        if (out.ok()) {
            failures_ = 0;
        } else if (++failures_ >= 5) {
            open_ = true;
            open_until_ = ctx.now() + 30s;
        }
        return out;
    }

private:
    std::mutex mutex_;
    unsigned failures_ = 0;
    bool open_ = false;
    failover::time_point open_until_{};
};

mutex_breaker shared_mutex_breaker;
auto mutex_baseline = failover::pipeline(failover::ref(shared_mutex_breaker));

void mutex_breaker_baseline(benchmark::State& state) { bench_transport::run_calls<transport>(state, mutex_baseline); }
BENCHMARK(mutex_breaker_baseline);
BENCHMARK(mutex_breaker_baseline)->Threads(2);

failover::circuit_breaker& disabled_breaker() {
    static failover::circuit_breaker b{{.window = failover::count_window{.size = 100}}};
    static const bool disabled = (b.disable(), true);
    (void)disabled;
    return b;
}
auto failure_path = failover::pipeline(failover::ref(disabled_breaker()));

void breaker_failure_path(benchmark::State& state) { bench_transport::run_calls<failing_transport>(state, failure_path); }
BENCHMARK(breaker_failure_path);

failover::circuit_breaker& open_breaker() {
    static failover::circuit_breaker b{{.open_for = 1h, .max_open_for = 1h}};
    static const bool opened = (b.force_open(), true);
    (void)opened;
    return b;
}
auto open_rejection = failover::pipeline(failover::ref(open_breaker()));

void breaker_open_rejection(benchmark::State& state) {
    failover_bench::alloc_scope allocs(state);
    for (auto _ : state) {
        auto r = open_rejection(transport);
        bool rejected = r.is_rejection();
        benchmark::DoNotOptimize(rejected);
    }
}
BENCHMARK(breaker_open_rejection);

}  // namespace
