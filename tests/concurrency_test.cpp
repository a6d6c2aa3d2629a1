#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using failover::fault;
using failover::verdict;

namespace {

// A user policy that is safe to share: counts attempts and failures with atomics.
struct atomic_counter {
    std::atomic<long> attempts{0};
    std::atomic<long> failures{0};
    atomic_counter() = default;
    atomic_counter(atomic_counter&&) noexcept {}
    template <class Context, class Next>
    auto run(Context&, Next&& next) {
        attempts.fetch_add(1, std::memory_order_relaxed);
        auto out = next();
        if (!out.ok()) failures.fetch_add(1, std::memory_order_relaxed);
        return out;
    }
};

struct retry_once {
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        auto out = next();
        if (out.verdict().retryable()) {
            ctx.sleep_for(1ms);
            out = next();
        }
        return out;
    }
};

}  // namespace

TEST_CASE("one pipeline shared by 8 threads counts every attempt exactly once", "[concurrency]") {
    failover::testing::manual_clock clock;
    auto p = failover::pipeline(retry_once{}, atomic_counter{}).with_time(clock);
    constexpr int threads = 8;
    constexpr int calls_per_thread = 2000;
    std::atomic<long> ok_calls{0};
    std::atomic<long> reported_attempts{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < calls_per_thread; ++i) {
                // Every third call fails once and then succeeds on its retry.
                bool failed_once = false;
                auto r = p([&](const failover::attempt& a) {
                    if ((i + t) % 3 == 0 && !failed_once) {
                        failed_once = true;
                        return verdict{.kind = fault::reset};
                    }
                    CHECK(a.number() >= 1);
                    return verdict{};
                });
                if (r.ok()) ok_calls.fetch_add(1);
                reported_attempts.fetch_add(r.report().attempts);
            }
        });
    }
    for (auto& th : pool) th.join();
    const long total_calls = long{threads} * calls_per_thread;
    long expected_failures = 0;
    for (int t = 0; t < threads; ++t)
        for (int i = 0; i < calls_per_thread; ++i) expected_failures += (i + t) % 3 == 0;
    CHECK(ok_calls == total_calls);
    CHECK(p.get<1>().attempts == total_calls + expected_failures);
    CHECK(p.get<1>().failures == expected_failures);
    CHECK(reported_attempts == total_calls + expected_failures);
    CHECK(clock.sleeps() == static_cast<std::size_t>(expected_failures));
}

TEST_CASE("a scripted transport and manual clock shared by threads lose no call", "[concurrency]") {
    failover::testing::manual_clock clock;
    failover::testing::scripted_transport<verdict> transport(
        clock, {failover::testing::returns(verdict{}, 1ms), failover::testing::returns(verdict{.kind = fault::timeout}, 2ms)},
        failover::testing::when_done::cycle);
    auto p = failover::pipeline().with_time(clock);
    const auto t0 = clock.now();
    constexpr int threads = 4, calls_per_thread = 500;
    std::atomic<int> timeouts{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < calls_per_thread; ++i)
                if (p(transport).verdict().kind == fault::timeout) timeouts.fetch_add(1);
        });
    for (auto& th : pool) th.join();
    CHECK(transport.call_count() == threads * calls_per_thread);
    CHECK(timeouts == threads * calls_per_thread / 2);
    CHECK(clock.now() - t0 == (threads * calls_per_thread / 2) * 3ms);
}
