#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using failover::breaker_event;
using failover::breaker_reason;
using failover::breaker_state;
using failover::circuit_breaker;
using failover::circuit_breaker_options;
using failover::count_window;
using failover::duration;
using failover::fault;
using failover::time_window;
using failover::verdict;
using failover::testing::manual_clock;

namespace {

constexpr verdict S{};
constexpr verdict F{.kind = fault::unavailable};

// One breaker, a virtual clock, and calls through a pipeline made of the breaker alone.
struct bench {
    manual_clock clock;
    circuit_breaker breaker;
    int transport_calls = 0;

    explicit bench(const circuit_breaker_options& o) : breaker(o) {}

    // One call whose transport answers `v` after `latency`.
    failover::result<verdict> call(verdict v, duration latency = duration::zero()) {
        auto p = failover::pipeline(failover::ref(breaker)).with_time(clock);
        return p([&] {
            ++transport_calls;
            clock.advance(latency);
            return v;
        });
    }
    void calls(std::initializer_list<verdict> vs) {
        for (const verdict& v : vs) call(v);
    }
    breaker_state state() { return breaker.state(); }
    failover::breaker_snapshot snap() { return breaker.snapshot(clock.now()); }
};

// A listener that keeps every event.
struct recorder {
    std::vector<breaker_event> events;
    void operator()(const breaker_event& e) { events.push_back(e); }
};

circuit_breaker_options rate_only(failover::failure_window w, unsigned minimum, double rate = 0.5) {
    return circuit_breaker_options{.consecutive_failures = 0, .window = w, .failure_rate = rate, .minimum_calls = minimum};
}

std::string config_error_of(const circuit_breaker_options& o) {
    try {
        circuit_breaker b(o);
    } catch (const failover::config_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a default breaker is closed and trips after 5 region-health failures in a row") {
    const circuit_breaker_options d{};
    CHECK(d.consecutive_failures == 5);
    CHECK(d.window.kind() == failover::failure_window::type::none);
    CHECK(d.open_for == 30s);
    CHECK(d.open_growth == 2.0);
    CHECK(d.max_open_for == 5min);
    CHECK(d.half_open_probes == 1);
    CHECK(d.successes_to_close == 1);
    CHECK(d.failures_to_reopen == 1);
    CHECK(d.max_half_open == 2min);
    CHECK(d.counted_faults == failover::region_faults);

    bench b(d);
    CHECK(b.state() == breaker_state::closed);
    b.calls({F, F, F, F});
    CHECK(b.state() == breaker_state::closed);
    b.call(F);
    CHECK(b.state() == breaker_state::open);
}

TEST_CASE("consecutive failures: a success in between starts the count again") {
    bench b({.consecutive_failures = 3});
    b.calls({F, F, S, F, F, S, F, F});
    CHECK(b.state() == breaker_state::closed);
    CHECK(b.snap().consecutive_failures == 2);
    b.call(F);
    CHECK(b.state() == breaker_state::open);
}

TEST_CASE("only region-health faults count: throttled and rejected are successes for health unless configured") {
    bench b({.consecutive_failures = 2});
    for (int i = 0; i < 10; ++i) {
        b.call(verdict{.kind = fault::throttled, .retry_after = 1s});
        b.call(verdict{.kind = fault::rejected});
    }
    CHECK(b.state() == breaker_state::closed);
    CHECK(b.snap().failures == 0);

    bench t({.consecutive_failures = 2, .counted_faults = failover::region_faults | fault::throttled});
    t.calls({verdict{.kind = fault::throttled}, verdict{.kind = fault::throttled}});
    CHECK(t.state() == breaker_state::open);

    for (fault f : {fault::timeout, fault::connection, fault::reset, fault::unavailable}) {
        bench each({.consecutive_failures = 1});
        each.call(verdict{.kind = f});
        CHECK(each.state() == breaker_state::open);
    }
}

TEST_CASE("bad configuration names the field and the allowed range") {
    using Catch::Matchers::Contains;
    CHECK_THAT(config_error_of({.consecutive_failures = 0}), Contains("no trip rule"));
    CHECK_THAT(config_error_of({.failure_rate = 0.0}), Contains("failure_rate must be in [0.000001, 1]"));
    CHECK_THAT(config_error_of({.failure_rate = 1.5}), Contains("failure_rate must be in [0.000001, 1]"));
    CHECK_THAT(config_error_of({.window = count_window{.size = 0}}), Contains("count_window.size must be in [1, 1000000]"));
    CHECK_THAT(config_error_of({.window = count_window{.size = 10}, .minimum_calls = 20}),
               Contains("minimum_calls must be <= count_window.size") && Contains("(got 20 and 10)"));
    CHECK_THAT(config_error_of({.minimum_calls = 0}), Contains("minimum_calls must be >= 1"));
    CHECK_THAT(config_error_of({.window = time_window{.length = 60s, .buckets = 0}}), Contains("time_window.buckets"));
    CHECK_THAT(config_error_of({.window = time_window{.length = 5ms, .buckets = 10}}), Contains("time_window.length"));
    CHECK_THAT(config_error_of({.slow_call_duration = -1s}), Contains("slow_call_duration must be >= 0"));
    CHECK_THAT(config_error_of({.slow_call_duration = 1s}), Contains("slow_call_duration needs a count_window or time_window"));
    CHECK_THAT(config_error_of({.window = count_window{}, .slow_call_duration = 1s, .slow_call_rate = 0.0}),
               Contains("slow_call_rate must be in [0.000001, 1]"));
    CHECK_THAT(config_error_of({.counted_faults = failover::fault_set{fault::none, fault::timeout}}),
               Contains("counted_faults must not contain fault::none"));
    CHECK_THAT(config_error_of({.open_for = 0s}), Contains("open_for must be > 0"));
    CHECK_THAT(config_error_of({.open_growth = 0.5}), Contains("open_growth must be in [1, 1000]"));
    CHECK_THAT(config_error_of({.open_for = 10s, .max_open_for = 5s}), Contains("max_open_for must be >= open_for"));
    CHECK_THAT(config_error_of({.half_open_probes = 0}), Contains("half_open_probes must be in [1, 1000000]"));
    CHECK_THAT(config_error_of({.half_open_probes = 2, .successes_to_close = 3}), Contains("successes_to_close must be in [1, half_open_probes]"));
    CHECK_THAT(config_error_of({.half_open_probes = 2, .failures_to_reopen = 0}), Contains("failures_to_reopen must be in [1, half_open_probes]"));
    CHECK_THAT(config_error_of({.half_open_probes = 3, .successes_to_close = 2, .failures_to_reopen = 3}),
               Contains("may end undecided"));
    CHECK_THAT(config_error_of({.max_half_open = 0s}), Contains("max_half_open must be > 0"));
    CHECK_THAT(config_error_of({.failure_rate = 1e-7}), Contains("failure_rate must be in [0.000001, 1]"));
    CHECK(config_error_of({.window = count_window{.size = 5}, .minimum_calls = 5}).empty());
}

TEST_CASE("minimum-volume gate: no trip below minimum_calls, and the rate reads as not available") {
    bench b(rate_only(count_window{.size = 10}, 5));
    b.calls({F, F, F, F});
    CHECK(b.state() == breaker_state::closed);
    const auto s = b.snap();
    CHECK(s.calls == 4);
    CHECK(s.failures == 4);
    CHECK_FALSE(s.failure_rate.has_value());
    b.call(F);
    CHECK(b.state() == breaker_state::open);
    CHECK(b.breaker.snapshot(b.clock.now()).failure_rate == Approx(1.0));
}

TEST_CASE("thresholds are inclusive: 60 % and exactly 50 % trip, 40 % does not") {
    SECTION("F F F S S: 60 % on the fifth call") {
        bench b(rate_only(count_window{.size = 5}, 5));
        b.calls({F, F, F, S});
        CHECK(b.state() == breaker_state::closed);
        b.call(S);
        CHECK(b.state() == breaker_state::open);
    }
    SECTION("F F S S S: 40 % stays closed") {
        bench b(rate_only(count_window{.size = 5}, 5));
        b.calls({F, F, S, S, S});
        CHECK(b.state() == breaker_state::closed);
        CHECK(b.snap().failure_rate == Approx(0.4));
    }
    SECTION("S S F F: exactly 50 % trips") {
        bench b(rate_only(count_window{.size = 4}, 4));
        b.calls({S, S, F, F});
        CHECK(b.state() == breaker_state::open);
    }
    SECTION("a rate of 0.1 over 30 calls trips at exactly 3 failures (no rounding error)") {
        bench b(rate_only(count_window{.size = 30}, 30, 0.1));
        for (int i = 0; i < 28; ++i) b.call(S);
        b.calls({F, F});
        CHECK(b.state() == breaker_state::closed);  // 2 of 30
        bench c(rate_only(count_window{.size = 30}, 30, 0.1));
        for (int i = 0; i < 27; ++i) c.call(S);
        c.calls({F, F, F});
        CHECK(c.state() == breaker_state::open);  // 3 of 30
    }
}

TEST_CASE("the rate is evaluated after every record once the gate is met, not when the window is full") {
    bench b(rate_only(time_window{.length = 20s, .buckets = 20}, 5));
    b.calls({S, S, S, F, F});
    CHECK(b.state() == breaker_state::closed);  // 40 %
    b.call(F);
    CHECK(b.state() == breaker_state::open);  // 50 %
}

TEST_CASE("a count window holds exactly the last N outcomes") {
    bench b(rate_only(count_window{.size = 10}, 10, 1.0));
    b.calls({S, S, F, F, F, F, F, F, S, S, S, S});
    auto s = b.snap();
    CHECK(s.calls == 10);
    CHECK(s.failures == 6);
    CHECK(s.failure_rate == Approx(0.6));
    b.calls({S, S, S});
    s = b.snap();
    CHECK(s.calls == 10);
    CHECK(s.failures == 3);
    CHECK(b.state() == breaker_state::closed);
    // Many successes at once (counted by the thread on its own) evict everything.
    for (int i = 0; i < 25; ++i) b.call(S);
    s = b.snap();
    CHECK(s.calls == 10);
    CHECK(s.failures == 0);
}

TEST_CASE("a time window drops an outcome when its bucket is N buckets old, and is empty after idling") {
    // 5 buckets of 1 s. The manual clock starts on a whole second.
    bench b(rate_only(time_window{.length = 5s, .buckets = 5}, 100));
    b.clock.advance(800ms);  // t = 0.8 s
    b.call(F);
    b.call(S);
    b.clock.advance(4s);  // t = 4.8 s: still inside
    auto s = b.snap();
    CHECK(s.calls == 2);
    CHECK(s.failures == 1);
    b.clock.advance(1s);  // t = 5.8 s: its bucket is 5 buckets old
    s = b.snap();
    CHECK(s.calls == 0);
    CHECK(s.failures == 0);

    b.calls({S, F, S});
    b.clock.advance(2s);
    b.calls({F});
    CHECK(b.snap().calls == 4);
    b.clock.advance(10min);  // idle far longer than the window
    s = b.snap();
    CHECK(s.calls == 0);
    CHECK(s.failures == 0);
    CHECK_FALSE(s.failure_rate.has_value());
}

TEST_CASE("a time window counts buckets exactly as they age out one by one") {
    bench b(rate_only(time_window{.length = 4s, .buckets = 4}, 1, 1.0));
    // One success per second for 4 s, one failure in the second second.
    b.call(S);
    b.clock.advance(1s);
    b.call(F);
    b.clock.advance(1s);
    b.call(S);
    b.clock.advance(1s);
    b.call(S);
    CHECK(b.snap().calls == 4);
    CHECK(b.snap().failures == 1);
    b.clock.advance(1s);
    CHECK(b.snap().calls == 3);  // the first second is gone
    CHECK(b.snap().failures == 1);
    b.clock.advance(1s);
    CHECK(b.snap().calls == 2);  // the failure's second is gone
    CHECK(b.snap().failures == 0);
}

TEST_CASE("slow calls: strictly longer than the threshold, counted whatever the outcome, and a slow rate trips alone") {
    circuit_breaker_options o = rate_only(count_window{.size = 4}, 4, 1.0);
    o.slow_call_duration = 1s;
    o.slow_call_rate = 0.5;
    bench b(o);
    b.call(S, 1s);  // exactly the threshold: not slow
    CHECK(b.snap().slow_calls == 0);
    b.call(F, 1s + 1ns);  // slow and failed
    auto s = b.snap();
    CHECK(s.slow_calls == 1);
    CHECK(s.slow_failures == 1);
    CHECK(s.failures == 1);
    b.call(S);
    CHECK(b.state() == breaker_state::closed);
    recorder r;
    b.breaker.on_transition(r);
    b.call(S, 2s);  // 2 slow of 4: 50 %
    CHECK(b.state() == breaker_state::open);
    REQUIRE(r.events.size() == 1);
    CHECK(r.events[0].why == breaker_reason::slow_call_rate);
    CHECK(r.events[0].snapshot.slow_call_rate == Approx(0.5));
    CHECK(r.events[0].snapshot.failure_rate == Approx(0.25));
}

TEST_CASE("open rejects without calling the transport, says who and until when, and never records its own rejection") {
    bench b({.consecutive_failures = 1, .open_for = 10s});
    const failover::time_point tripped = b.clock.now();
    b.call(F);
    REQUIRE(b.state() == breaker_state::open);
    const int before = b.transport_calls;
    const auto counts = b.snap();
    for (int i = 0; i < 5; ++i) {
        b.clock.advance(1s);
        auto r = b.call(S);
        REQUIRE(r.is_rejection());
        CHECK(r.rejection().reason == failover::rejection_reason::circuit_open);
        CHECK(r.rejection().source == &b.breaker);
        CHECK(r.rejection().retry_at == tripped + 10s);
        CHECK(r.rejection().retry_after(b.clock.now()) == 10s - (i + 1) * 1s);
        CHECK(r.report().attempts == 0);
    }
    CHECK(b.transport_calls == before);
    const auto after = b.snap();
    CHECK(after.rejected == 5);
    CHECK(after.calls == counts.calls);
    CHECK(after.failures == counts.failures);
    CHECK(b.breaker.remaining_open(b.clock.now()) == 5s);
}

TEST_CASE("open lasts its time, then the first call is a probe; the open time grows while it keeps failing") {
    bench b({.consecutive_failures = 1, .open_for = 5s, .open_growth = 1.5, .max_open_for = 10s});
    recorder r;
    b.breaker.on_transition(r);
    b.call(F);
    b.clock.advance(3s);
    CHECK(b.call(S).is_rejection());
    b.clock.advance(2s - 1ns);
    CHECK(b.call(S).is_rejection());
    b.clock.advance(1ns);  // exactly at the end of the open time
    REQUIRE(r.events.size() == 1);
    b.call(F);  // the probe, admitted, fails
    REQUIRE(r.events.size() == 3);
    CHECK(r.events[1].from == breaker_state::open);
    CHECK(r.events[1].to == breaker_state::half_open);
    CHECK(r.events[1].why == breaker_reason::open_elapsed);
    CHECK(r.events[2].why == breaker_reason::probe_failed);
    CHECK(r.events[2].open_for == 7500ms);
    CHECK(b.breaker.remaining_open(b.clock.now()) == 7500ms);
    b.clock.advance(7500ms);
    b.call(F);
    CHECK(r.events.back().open_for == 10s);  // 11.25 s, capped
    b.clock.advance(10s);
    b.call(S);
    CHECK(b.state() == breaker_state::closed);
    CHECK(r.events.back().why == breaker_reason::probes_succeeded);
    b.call(F);  // closing forgot the growth
    CHECK(r.events.back().open_for == 5s);
}

TEST_CASE("the tripping verdict's retry_after keeps the breaker open longer, up to max_open_for") {
    bench b({.consecutive_failures = 1, .open_for = 5s, .max_open_for = 60s});
    b.call(verdict{.kind = fault::unavailable, .retry_after = 20s});
    CHECK(b.breaker.remaining_open(b.clock.now()) == 20s);
    bench capped({.consecutive_failures = 1, .open_for = 5s, .max_open_for = 60s});
    capped.call(verdict{.kind = fault::unavailable, .retry_after = 1h});
    CHECK(capped.breaker.remaining_open(capped.clock.now()) == 60s);
    bench shorter({.consecutive_failures = 1, .open_for = 5s});
    shorter.call(verdict{.kind = fault::unavailable, .retry_after = 1s});
    CHECK(shorter.breaker.remaining_open(shorter.clock.now()) == 5s);
    bench ignored({.consecutive_failures = 1, .open_for = 5s, .open_for_retry_after = false});
    ignored.call(verdict{.kind = fault::unavailable, .retry_after = 20s});
    CHECK(ignored.breaker.remaining_open(ignored.clock.now()) == 5s);
}

TEST_CASE("half-open admits the configured number of probes per episode, placed not in flight") {
    bench b({.consecutive_failures = 1, .open_for = 1s, .half_open_probes = 2, .successes_to_close = 2});
    b.call(F);
    b.clock.advance(1s);
    auto p1 = b.breaker.acquire(b.clock.now());
    auto p2 = b.breaker.acquire(b.clock.now());
    auto p3 = b.breaker.acquire(b.clock.now());
    CHECK(p1.admitted());
    CHECK(p1.is_probe());
    CHECK(p2.admitted());
    CHECK_FALSE(p3.admitted());
    CHECK(p3.rejection().reason == failover::rejection_reason::circuit_open);
    CHECK(p3.rejection().retry_at == b.clock.now());  // due any moment: the probes are out
    CHECK(b.state() == breaker_state::half_open);
    p1.record(S, 0ns, b.clock.now());
    // A probe that reported does not free a place: still two placed.
    CHECK_FALSE(b.breaker.acquire(b.clock.now()).admitted());
    CHECK(b.snap().probes_placed == 2);
    p2.record(F, 0ns, b.clock.now());
    CHECK(b.state() == breaker_state::open);
    // A fresh episode has fresh places.
    b.clock.advance(2s);
    auto q1 = b.breaker.acquire(b.clock.now());
    auto q2 = b.breaker.acquire(b.clock.now());
    CHECK(q1.admitted());
    CHECK(q2.admitted());
    CHECK_FALSE(b.breaker.acquire(b.clock.now()).admitted());
}

TEST_CASE("half-open decides on successes_to_close and failures_to_reopen") {
    const circuit_breaker_options o{.consecutive_failures = 1, .open_for = 1s, .half_open_probes = 4, .successes_to_close = 3,
                                    .failures_to_reopen = 2};
    SECTION("S F S S closes") {
        bench b(o);
        b.call(F);
        b.clock.advance(1s);
        b.calls({S, F, S});
        CHECK(b.state() == breaker_state::half_open);
        b.call(S);
        CHECK(b.state() == breaker_state::closed);
        CHECK(b.snap().calls == 0);  // a fresh window
    }
    SECTION("F S F reopens") {
        bench b(o);
        b.call(F);
        b.clock.advance(1s);
        b.calls({F, S});
        CHECK(b.state() == breaker_state::half_open);
        b.call(F);
        CHECK(b.state() == breaker_state::open);
    }
    SECTION("by default one failed probe reopens and one success closes") {
        bench b({.consecutive_failures = 1, .open_for = 1s});
        b.call(F);
        b.clock.advance(1s);
        b.call(F);
        CHECK(b.state() == breaker_state::open);
        b.clock.advance(2s);
        b.call(S);
        CHECK(b.state() == breaker_state::closed);
    }
}

TEST_CASE("a probe that never reports cannot wedge half-open: it reopens after max_half_open") {
    bench b({.consecutive_failures = 1, .open_for = 1s, .max_half_open = 30s});
    recorder r;
    b.breaker.on_transition(r);
    b.call(F);
    b.clock.advance(1s);
    auto lost = b.breaker.acquire(b.clock.now());  // a probe whose caller never answers
    REQUIRE(lost.admitted());
    b.clock.advance(30s - 1ns);
    CHECK(b.call(S).is_rejection());
    b.clock.advance(1ns);
    CHECK(b.call(S).is_rejection());
    CHECK(r.events.back().why == breaker_reason::half_open_timeout);
    CHECK(b.state() == breaker_state::open);
    lost.record(S, 0ns, b.clock.now());  // too late: stale
    CHECK(b.state() == breaker_state::open);
    CHECK(b.snap().stale_results == 1);
    b.clock.advance(b.breaker.remaining_open(b.clock.now()));
    b.call(S);
    CHECK(b.state() == breaker_state::closed);
}

namespace {
// An inner policy that throws out of next(): the outcome of the attempt is never known.
struct throws_out {
    template <class Context, class Next>
    auto run(Context&, Next&&) -> decltype(std::declval<Next&>()()) {
        throw std::runtime_error("inner layer failed");
    }
};
// An inner policy that refuses without calling the transport.
struct refuses {
    template <class Context, class Next>
    auto run(Context&, Next&&) -> decltype(std::declval<Next&>()()) {
        return failover::rejection{.reason = failover::rejection_reason::refused_by_policy};
    }
};
}  // namespace

TEST_CASE("no permit leaks: a throwing transport is recorded, an escaping exception or inner refusal frees the probe") {
    SECTION("the transport throws a classified exception: recorded as its verdict") {
        bench b({.consecutive_failures = 1, .open_for = 1s});
        b.call(F);
        b.clock.advance(1s);
        auto p = failover::pipeline(failover::ref(b.breaker)).with_time(b.clock);
        CHECK_THROWS_AS(p([]() -> verdict { throw std::system_error(std::make_error_code(std::errc::connection_reset)); }),
                        std::system_error);
        CHECK(b.state() == breaker_state::open);  // the probe's reset reopened it
    }
    SECTION("an exception escapes an inner layer: the probe's place is handed back") {
        bench b({.consecutive_failures = 1, .open_for = 1s});
        b.call(F);
        b.clock.advance(1s);
        auto p = failover::pipeline(failover::ref(b.breaker), throws_out{}).with_time(b.clock);
        CHECK_THROWS_AS(p([] { return S; }), std::runtime_error);
        CHECK(b.state() == breaker_state::half_open);
        CHECK(b.snap().probes_placed == 0);
        b.call(S);
        CHECK(b.state() == breaker_state::closed);
    }
    SECTION("an inner refusal is not an outcome: nothing counted, the place handed back") {
        bench b({.consecutive_failures = 1, .open_for = 1s});
        b.call(F);
        b.clock.advance(1s);
        auto p = failover::pipeline(failover::ref(b.breaker), refuses{}).with_time(b.clock);
        auto r = p([] { return S; });
        CHECK(r.is_rejection());
        CHECK(r.rejection().reason == failover::rejection_reason::refused_by_policy);
        CHECK(b.snap().probes_placed == 0);
        b.call(S);
        CHECK(b.state() == breaker_state::closed);
    }
    SECTION("a permit dropped without an outcome hands its place back") {
        bench b({.consecutive_failures = 1, .open_for = 1s});
        b.call(F);
        b.clock.advance(1s);
        { auto dropped = b.breaker.acquire(b.clock.now()); }
        CHECK(b.breaker.acquire(b.clock.now()).admitted());
    }
    SECTION("an exception escaping an inner layer while closed counts nothing") {
        bench b({.consecutive_failures = 1});
        auto p = failover::pipeline(failover::ref(b.breaker), throws_out{}).with_time(b.clock);
        CHECK_THROWS_AS(p([] { return F; }), std::runtime_error);
        CHECK(b.state() == breaker_state::closed);
        CHECK(b.snap().calls == 0);
    }
}

TEST_CASE("stale results: a call admitted before a state change does not drive the new state") {
    bench b({.consecutive_failures = 2, .open_for = 1s});
    auto early = b.breaker.acquire(b.clock.now());  // admitted while closed
    b.calls({F, F});
    REQUIRE(b.state() == breaker_state::open);
    b.clock.advance(1s);
    b.call(S);  // probe closes it
    REQUIRE(b.state() == breaker_state::closed);
    early.record(F, 0ns, b.clock.now());
    CHECK(b.snap().failures == 0);
    CHECK(b.snap().stale_results == 1);

    // A late success from before the trip does not count in the new window either.
    bench c(rate_only(count_window{.size = 4}, 4));
    auto late = c.breaker.acquire(c.clock.now());
    c.calls({F, F, F, F});
    REQUIRE(c.state() == breaker_state::open);
    c.breaker.reset(c.clock.now());
    late.record(S, 0ns, c.clock.now());
    CHECK(c.snap().calls == 0);
}

TEST_CASE("manual states: forced open rejects for ever, disabled admits and counts but never trips, reset closes") {
    bench b({.consecutive_failures = 2});
    recorder r;
    b.breaker.on_transition(r);
    b.breaker.force_open(b.clock.now());
    CHECK(b.state() == breaker_state::forced_open);
    b.clock.advance(24h);
    auto rej = b.call(S);
    REQUIRE(rej.is_rejection());
    CHECK_FALSE(rej.rejection().retry_at.has_value());
    CHECK(b.breaker.remaining_open(b.clock.now()) == duration::max());
    CHECK(b.transport_calls == 0);

    b.breaker.disable(b.clock.now());
    for (int i = 0; i < 10; ++i) CHECK(b.call(F).has_value());
    CHECK(b.state() == breaker_state::disabled);
    CHECK(b.transport_calls == 10);
    CHECK(b.snap().consecutive_failures == 10);
    // One "would have tripped" event for the episode, from disabled to disabled.
    int shadow = 0;
    for (const auto& e : r.events)
        if (e.from == breaker_state::disabled && e.to == breaker_state::disabled) ++shadow;
    CHECK(shadow == 1);

    b.breaker.reset(b.clock.now());
    CHECK(b.state() == breaker_state::closed);
    CHECK(b.snap().consecutive_failures == 0);
    REQUIRE(r.events.size() == 4);
    CHECK(r.events[0].why == breaker_reason::forced_open);
    CHECK(r.events[1].why == breaker_reason::disabled);
    CHECK(r.events[2].why == breaker_reason::consecutive_failures);
    CHECK(r.events[3].why == breaker_reason::reset);
    CHECK(r.events[3].from == breaker_state::disabled);
    CHECK(r.events[3].to == breaker_state::closed);
}

TEST_CASE("disable() keeps the counts it had while closed; reset of a closed breaker clears them without an event") {
    bench b(rate_only(count_window{.size = 10}, 10));
    b.calls({S, F, S});
    b.breaker.disable(b.clock.now());
    CHECK(b.snap().calls == 3);
    CHECK(b.snap().failures == 1);
    b.breaker.reset(b.clock.now());
    recorder r;
    b.breaker.on_transition(r);
    b.calls({S, F});
    b.breaker.reset(b.clock.now());
    CHECK(b.snap().calls == 0);
    CHECK(r.events.empty());
}

TEST_CASE("the snapshot is consistent: failures and slow calls within calls, nothing negative, events carry the tripping counts") {
    circuit_breaker_options o = rate_only(count_window{.size = 8}, 4);
    o.slow_call_duration = 100ms;
    bench b(o);
    recorder r;
    b.breaker.on_transition(r);
    const verdict script[] = {S, S, F, S, F, S, S, F, S, F};
    const duration latency[] = {0ms, 200ms, 0ms, 0ms, 150ms, 0ms, 0ms, 0ms, 0ms, 0ms};
    for (int i = 0; i < 10 && b.state() == breaker_state::closed; ++i) {
        b.call(script[i], latency[i]);
        const auto s = b.snap();
        CHECK(s.failures <= s.calls);
        CHECK(s.slow_calls <= s.calls);
        CHECK(s.slow_failures <= s.slow_calls);
        CHECK(s.slow_failures <= s.failures);
        CHECK(s.calls <= 8);
    }
    REQUIRE(r.events.size() == 1);
    const auto& trip = r.events[0].snapshot;
    CHECK(trip.state == breaker_state::closed);
    CHECK(trip.calls == 8);
    CHECK(trip.failures == 4);  // F S F S S F S F: the last 8 of 10, 50 %
    CHECK(r.events[0].why == breaker_reason::failure_rate);
}

TEST_CASE("peer regression: the breaker leaves open under continuous traffic once the service recovers") {
    // A breaker that refreshed its failure time on every rejected call never reopened while
    // traffic kept coming (a C++ peer did). Here calls every 10 ms never delay the probe.
    bench b({.consecutive_failures = 2, .open_for = 50ms});
    b.calls({F, F});
    REQUIRE(b.state() == breaker_state::open);
    int rejected = 0;
    int served = 0;
    for (int i = 0; i < 50; ++i) {
        b.clock.advance(10ms);
        auto r = b.call(S);  // the service has recovered
        if (r.is_rejection())
            ++rejected;
        else
            ++served;
    }
    CHECK(rejected == 4);  // 10, 20, 30, 40 ms
    CHECK(served == 46);
    CHECK(b.state() == breaker_state::closed);
}

TEST_CASE("peer regression: half-open never lets every waiting call through") {
    bench b({.consecutive_failures = 1, .open_for = 1s, .half_open_probes = 3, .successes_to_close = 3});
    b.call(F);
    b.clock.advance(1s);
    std::vector<failover::circuit_breaker::permit> held;
    int admitted = 0;
    for (int i = 0; i < 100; ++i) {
        auto p = b.breaker.acquire(b.clock.now());
        if (p.admitted()) {
            ++admitted;
            held.push_back(std::move(p));
        }
    }
    CHECK(admitted == 3);
}

TEST_CASE("an outer retry does not spend attempts on the open breaker: it waits for the probe time") {
    manual_clock clock;
    circuit_breaker breaker({.consecutive_failures = 1, .open_for = 5s});
    auto p = failover::pipeline(failover::retry{{.max_attempts = 3, .backoff = failover::constant{1s}, .jitter = failover::jitter::none}},
                                failover::ref(breaker))
                 .with_time(clock);
    int calls = 0;
    auto r = p([&] { return ++calls == 1 ? F : S; });
    CHECK(r.ok());
    CHECK(calls == 2);
    CHECK(r.report().attempts == 2);
    CHECK(r.report().waited == 5s);  // 1 s of backoff, then 4 s until the breaker's probe time
    CHECK(breaker.state() == breaker_state::closed);
}

TEST_CASE("the breaker is a pipeline policy by value too, and its rejection says when to come back") {
    manual_clock clock;
    auto p = failover::pipeline(circuit_breaker({.consecutive_failures = 1, .open_for = 30s})).with_time(clock);
    p([] { return F; });
    auto r = p([] { return S; });
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().retry_after(clock.now()) == 30s);
    CHECK(p.get<0>().state() == breaker_state::open);
}

TEST_CASE("a success admitted before failures arrived is still evaluated when it completes the minimum") {
    SECTION("count window") {
        bench b(rate_only(count_window{.size = 4}, 4));
        auto early = b.breaker.acquire(b.clock.now());  // admitted while the window was empty
        b.calls({F, F, S});
        CHECK(b.state() == breaker_state::closed);  // 3 calls: below the minimum
        early.record(S, 0ns, b.clock.now());        // the 4th: 2 of 4 failed
        CHECK(b.state() == breaker_state::open);
    }
    SECTION("time window") {
        bench b(rate_only(time_window{.length = 10s, .buckets = 10}, 4));
        auto early = b.breaker.acquire(b.clock.now());
        b.calls({F, F, S});
        early.record(S, 0ns, b.clock.now());
        CHECK(b.state() == breaker_state::open);
    }
}

TEST_CASE("a time window trips on the first success after old successes leave and the rate rises") {
    bench b(rate_only(time_window{.length = 2s, .buckets = 2}, 2, 0.6));
    b.clock.advance(100ms);
    b.calls({S, S});
    b.clock.advance(1s);
    b.calls({F, F});  // 2 of 4: 50 %
    CHECK(b.state() == breaker_state::closed);
    b.clock.advance(1s);  // the first second leaves: 2 failures and this success, 67 %
    b.call(S);
    CHECK(b.state() == breaker_state::open);
}

TEST_CASE("a stale success is dropped and counted as stale, like a stale failure") {
    bench b({.consecutive_failures = 1});
    b.call(S);  // this thread's counter now carries the generation
    auto late = b.breaker.acquire(b.clock.now());
    b.breaker.reset(b.clock.now());
    late.record(S, 0ns, b.clock.now());
    CHECK(b.snap().stale_results == 1);
    CHECK(b.snap().calls == 0);
}

TEST_CASE("the generation tag coming round again does not bring old counts back") {
    bench b(rate_only(count_window{.size = 10}, 10));
    for (int i = 0; i < 7; ++i) b.call(S);
    for (int i = 0; i < 65536; ++i) b.breaker.reset(b.clock.now());
    CHECK(b.snap().calls == 0);
    bench t(rate_only(time_window{.length = 10s, .buckets = 10}, 10));
    for (int i = 0; i < 7; ++i) t.call(S);
    for (int i = 0; i < 65536; ++i) t.breaker.reset(t.clock.now());
    CHECK(t.snap().calls == 0);
}

TEST_CASE("a time-window success read from a lagging clock counts in the newest bucket, not lost") {
    bench b(rate_only(time_window{.length = 10s, .buckets = 10}, 100));
    const failover::time_point t0 = b.clock.now();
    b.clock.advance(120s);
    b.call(S);
    auto p1 = b.breaker.acquire(t0 + 30s);
    p1.record(S, 0ns, t0 + 30s);  // a reading far behind the ring's head
    auto p2 = b.breaker.acquire(t0 + 31s);
    p2.record(S, 0ns, t0 + 31s);
    CHECK(b.snap().calls == 3);
}

TEST_CASE("extreme times are handled without overflow") {
    bench b(rate_only(time_window{.length = 5s, .buckets = 5}, 100));
    auto p = b.breaker.acquire(failover::time_point::max());
    p.record(S, 0ns, failover::time_point::max());
    auto q = b.breaker.acquire(failover::time_point::min());
    q.record(F, 0ns, failover::time_point::min());
    const auto s = b.breaker.snapshot(failover::time_point::max());
    CHECK(s.calls <= 2);
    bench h({.consecutive_failures = 1, .open_for = 1s});
    h.call(F);
    auto probe = h.breaker.acquire(failover::time_point::max());
    CHECK(probe.is_probe());  // the open time is long over: a probe
    h.breaker.acquire(failover::time_point::min());  // a reading before the episode began
}

TEST_CASE("a window full of successes writes nothing for another success, and stays exact when a failure comes") {
    bench b(rate_only(count_window{.size = 10}, 10));
    for (int i = 0; i < 3000; ++i) b.call(S);  // long enough for the window to be seen clean
    auto s = b.snap();
    CHECK(s.calls == 10);
    CHECK(s.failures == 0);
    b.call(F);
    for (int i = 0; i < 9; ++i) b.call(S);
    s = b.snap();
    CHECK(s.calls == 10);
    CHECK(s.failures == 1);  // the failure is the oldest of the last 10
    b.call(S);
    CHECK(b.snap().failures == 0);

    bench d({});  // the default: 5 in a row
    for (int i = 0; i < 3000; ++i) d.call(S);
    d.calls({F, F, F, F, S, F});
    CHECK(d.state() == breaker_state::closed);
    CHECK(d.snap().consecutive_failures == 1);
    d.calls({F, F, F, F});
    CHECK(d.state() == breaker_state::open);
    CHECK(d.snap().calls == 5);  // without a window, the snapshot shows the last 5 outcomes
}

TEST_CASE("peer regression: calls admitted while closed neither add half-open places nor count as probes") {
    bench b({.consecutive_failures = 2, .open_for = 1s});
    auto overhang1 = b.breaker.acquire(b.clock.now());  // admitted while closed
    auto overhang2 = b.breaker.acquire(b.clock.now());
    b.calls({F, F});
    b.clock.advance(1s);
    auto probe = b.breaker.acquire(b.clock.now());
    REQUIRE(probe.is_probe());
    overhang1.release();  // handing back a closed-state permit must not free a probe place
    CHECK_FALSE(b.breaker.acquire(b.clock.now()).admitted());
    overhang2.record(S, 0ns, b.clock.now());  // a late success from before the trip is no probe
    CHECK(b.state() == breaker_state::half_open);
    CHECK(b.snap().probe_successes == 0);
    probe.record(S, 0ns, b.clock.now());
    CHECK(b.state() == breaker_state::closed);
}

TEST_CASE("reset_growth_after keeps a region that fails again soon after closing out longer") {
    bench b({.consecutive_failures = 1, .open_for = 10s, .open_growth = 2, .max_open_for = 5min, .reset_growth_after = 1min});
    recorder r;
    b.breaker.on_transition(r);
    b.call(F);  // open 10 s
    b.clock.advance(10s);
    b.call(S);  // probe closes it
    b.clock.advance(30s);
    b.call(F);  // fails again 30 s later: the growth is remembered
    CHECK(r.events.back().open_for == 20s);
    b.clock.advance(20s);
    b.call(S);
    b.clock.advance(1min);
    b.call(F);  // a minute closed: forgotten
    CHECK(r.events.back().open_for == 10s);
    b.breaker.reset(b.clock.now());
    b.call(F);  // reset() forgets it too
    CHECK(r.events.back().open_for == 10s);
}
