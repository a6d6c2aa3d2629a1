// The circuit breaker under concurrency: run in the TSan configurations ([concurrency]).
#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using failover::breaker_event;
using failover::breaker_state;
using failover::circuit_breaker;
using failover::fault;
using failover::verdict;
using failover::testing::manual_clock;

namespace {

constexpr verdict S{};
constexpr verdict F{.kind = fault::unavailable};

// Keeps every event. Called under the breaker's lock, so no lock of its own.
struct recorder {
    std::vector<breaker_event> events;
    void operator()(const breaker_event& e) { events.push_back(e); }
};

bool legal(breaker_state from, breaker_state to) {
    using s = breaker_state;
    return (from == s::closed && to == s::open) || (from == s::open && to == s::half_open) ||
           (from == s::half_open && (to == s::open || to == s::closed));
}

template <class Body>
void on_threads(int threads, Body body) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { body(t); });
    for (auto& th : pool) th.join();
}

}  // namespace

TEST_CASE("8 threads crossing the threshold together make exactly one transition and one event", "[concurrency]") {
    for (int round = 0; round < 20; ++round) {
        manual_clock clock;
        circuit_breaker breaker({.consecutive_failures = 3, .open_for = 1h, .max_open_for = 1h});
        recorder r;
        breaker.on_transition(r);
        auto p = failover::pipeline(failover::ref(breaker)).with_time(clock);
        std::atomic<int> go{0};
        on_threads(8, [&](int) {
            go.fetch_add(1);
            while (go.load() < 8) {
            }
            for (int i = 0; i < 50; ++i) p([] { return F; });
        });
        REQUIRE(r.events.size() == 1);
        CHECK(r.events[0].from == breaker_state::closed);
        CHECK(r.events[0].to == breaker_state::open);
        CHECK(breaker.state() == breaker_state::open);
    }
}

TEST_CASE("8 threads: every outcome is counted exactly, in every window", "[concurrency]") {
    constexpr int threads = 8, per_thread = 20000;
    const failover::circuit_breaker_options shadow[] = {
        {.consecutive_failures = 0, .window = failover::count_window{.size = 1'000'000}, .minimum_calls = 1},
        {.consecutive_failures = 0, .window = failover::time_window{.length = 1h, .buckets = 60}, .minimum_calls = 1},
    };
    for (const auto& options : shadow) {
        manual_clock clock;
        circuit_breaker breaker(options);
        breaker.disable(clock.now());  // counts everything, never trips
        auto p = failover::pipeline(failover::ref(breaker)).with_time(clock);
        on_threads(threads, [&](int t) {
            for (int i = 0; i < per_thread; ++i) {
                clock.advance(1ms);  // 160 s in all: several buckets of the time window
                p([&] { return (i + t) % 10 == 0 ? F : S; });
            }
        });
        const auto s = breaker.snapshot(clock.now());
        CHECK(s.calls == std::uint64_t{threads} * per_thread);
        CHECK(s.failures == std::uint64_t{threads} * per_thread / 10);
        CHECK(s.stale_results == 0);
    }
}

TEST_CASE("stress: 8 threads, 10^6 calls on a flapping service: valid transitions, bounded probes, exact counts",
          "[concurrency]") {
    constexpr int threads = 8;
    constexpr long per_thread = 125'000;
    constexpr unsigned probes = 3;
    manual_clock clock;
    circuit_breaker breaker({.consecutive_failures = 10,
                             .window = failover::count_window{.size = 50},
                             .failure_rate = 0.5,
                             .minimum_calls = 20,
                             .open_for = 1ms,
                             .max_open_for = 4ms,
                             .half_open_probes = probes,
                             .successes_to_close = 2,
                             .failures_to_reopen = 2,
                             .max_half_open = 5ms});
    recorder r;
    breaker.on_transition(r);
    auto p = failover::pipeline(failover::ref(breaker)).with_time(clock);
    std::atomic<long> started{0};
    std::atomic<long> transport_calls{0};
    std::atomic<long> rejections{0};
    std::vector<std::map<std::uint64_t, unsigned>> probes_seen(threads);
    // The service is healthy for 20 000 calls, then fails for 20 000, and so on.
    auto healthy = [&] { return (started.load(std::memory_order_relaxed) / 20'000) % 2 == 0; };
    on_threads(threads, [&](int t) {
        for (long i = 0; i < per_thread; ++i) {
            started.fetch_add(1, std::memory_order_relaxed);
            clock.advance(1us);
            if (i % 2 == 0) {  // through the pipeline
                auto res = p([&] {
                    transport_calls.fetch_add(1, std::memory_order_relaxed);
                    return healthy() ? S : F;
                });
                if (res.is_rejection()) rejections.fetch_add(1, std::memory_order_relaxed);
            } else {  // by hand, to see each probe's generation
                auto permit = breaker.acquire(clock.now());
                if (!permit) {
                    rejections.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                if (permit.is_probe()) ++probes_seen[static_cast<std::size_t>(t)][permit.generation()];
                transport_calls.fetch_add(1, std::memory_order_relaxed);
                if (i % 101 == 1)
                    permit.release();  // now and then an outcome that says nothing
                else
                    permit.record(healthy() ? S : F, 0ns, clock.now());
            }
        }
    });

    // Every call ended, admitted or refused, and the breaker counted each refusal once.
    CHECK(transport_calls + rejections == threads * per_thread);
    const auto s = breaker.snapshot(clock.now());
    CHECK(s.rejected == static_cast<std::uint64_t>(rejections.load()));
    CHECK(s.failures <= s.calls);
    CHECK(s.calls <= 50);

    // Transitions form one chain of legal steps: none skipped, none doubled.
    REQUIRE(r.events.size() >= 3);
    for (std::size_t i = 0; i < r.events.size(); ++i) {
        CHECK(legal(r.events[i].from, r.events[i].to));
        if (i > 0) CHECK(r.events[i].from == r.events[i - 1].to);
        if (r.events[i].from == breaker_state::half_open) CHECK(r.events[i].snapshot.probes_placed <= probes);
    }
    CHECK(r.events.back().to == breaker.state());

    // No half-open episode let more than `probes` probes through the permits we could see.
    std::map<std::uint64_t, unsigned> per_episode;
    for (const auto& m : probes_seen)
        for (const auto& [generation, n] : m) per_episode[generation] += n;
    for (const auto& [generation, n] : per_episode) CHECK(n <= probes);

    // Nothing leaked: the breaker still recovers once the service is healthy.
    for (int i = 0; i < 100 && breaker.state() != breaker_state::closed; ++i) {
        clock.advance(1ms);
        p([] { return S; });
    }
    CHECK(breaker.state() == breaker_state::closed);
}

TEST_CASE("regions shared by 8 threads through an outage: every call ends, and each lands on a region that was up",
          "[concurrency]") {
    struct region {
        std::atomic<bool> up{true};
    };
    std::vector<region> rs(3);
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 3, .open_for = 5ms, .open_growth = 1}};
    auto p = failover::pipeline(failover::retry{{.max_attempts = 4, .backoff = failover::constant{1ms}, .jitter = failover::jitter::none}},
                                failover::ref(sel))
                 .with_time(clock);
    std::atomic<long> ok{0}, failed{0}, rejected{0};
    std::atomic<long> per_region[3] = {0, 0, 0};
    on_threads(8, [&](int t) {
        for (int i = 0; i < 5000; ++i) {
            clock.advance(10us);
            if (t == 0 && i == 1000) rs[0].up = false;  // the primary goes down...
            if (t == 0 && i == 4000) rs[0].up = true;   // ... and comes back
            auto r = p([&](const failover::attempt& a) {
                per_region[a.region_index()].fetch_add(1);
                return a.region<region>().up ? S : F;
            });
            if (r.ok())
                ok.fetch_add(1);
            else if (r.is_rejection())
                rejected.fetch_add(1);
            else
                failed.fetch_add(1);
        }
    });
    CHECK(ok + failed + rejected == 8 * 5000);
    CHECK(failed == 0);    // a healthy backup was always there
    CHECK(rejected == 0);
    CHECK(per_region[1] > 0);  // the outage moved traffic
    CHECK(sel.breaker(1).state() == breaker_state::closed);
}
