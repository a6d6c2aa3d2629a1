#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using failover::duration;
using failover::fault;
using failover::jitter;
using failover::verdict;
using failover::testing::manual_clock;
using failover::testing::returns;
using failover::testing::scripted_transport;

namespace {

constexpr verdict failed(fault f = fault::unavailable) { return verdict{.kind = f}; }
constexpr verdict ok{};

// Runs `p` on a transport that fails `failures` times (with `v`) and then succeeds.
template <class Pipeline>
failover::result<verdict> fail_then_succeed(Pipeline& p, manual_clock& clock, int failures, verdict v = failed()) {
    std::vector<failover::testing::step<verdict>> script;
    for (int i = 0; i < failures; ++i) script.push_back(returns(v));
    script.push_back(returns(ok));
    scripted_transport<verdict> t(clock, script);
    return p(t);
}

auto no_jitter(failover::backoff b, unsigned attempts = 6) {
    return failover::retry{{.max_attempts = attempts, .backoff = b, .jitter = jitter::none}};
}

}  // namespace

TEST_CASE("gives up after max_attempts counting the first attempt", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 100ms}, 3)).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed())});
    auto r = p(t);
    CHECK_FALSE(r.ok());
    CHECK(r.has_value());
    CHECK(r.verdict().kind == fault::unavailable);
    CHECK(t.call_count() == 3);
    CHECK(r.report().attempts == 3);
    CHECK(clock.sleeps() == 2);  // sleeps == attempts - 1
}

TEST_CASE("max_attempts of one means no retry", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 1}}).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed())});
    (void)p(t);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("a success after failures returns the success", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 100ms}, 4)).with_time(clock);
    auto r = fail_then_succeed(p, clock, 3);
    CHECK(r.ok());
    CHECK(r.report().attempts == 4);
    CHECK(clock.sleeps() == 3);
    CHECK(r.report().waited == 300ms);
}

TEST_CASE("the constant schedule sleeps the same delay every time", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 250ms}, 5)).with_time(clock);
    (void)fail_then_succeed(p, clock, 10);
    CHECK(clock.sleep_log() == std::vector<duration>{250ms, 250ms, 250ms, 250ms});
}

TEST_CASE("the linear schedule grows by its step up to its cap", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::linear{.initial = 100ms, .step = 150ms, .cap = 500ms}, 6))
                 .with_time(clock);
    (void)fail_then_succeed(p, clock, 10);
    CHECK(clock.sleep_log() == std::vector<duration>{100ms, 250ms, 400ms, 500ms, 500ms});
}

TEST_CASE("the exponential schedule multiplies by its factor up to its cap", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::exponential{.initial = 200ms, .factor = 2, .cap = 2s}, 7))
                 .with_time(clock);
    (void)fail_then_succeed(p, clock, 10);
    CHECK(clock.sleep_log() == std::vector<duration>{200ms, 400ms, 800ms, 1600ms, 2s, 2s});
}

TEST_CASE("the default schedule is 0.5 s doubling up to 8 s", "[retry]") {
    constexpr failover::backoff b = failover::retry_options{}.backoff;
    STATIC_REQUIRE(b.delay(1) == 500ms);
    STATIC_REQUIRE(b.delay(2) == 1s);
    STATIC_REQUIRE(b.delay(5) == 8s);
    STATIC_REQUIRE(b.delay(6) == 8s);
    STATIC_REQUIRE(b.delay(4000000000u) == 8s);
    STATIC_REQUIRE(failover::retry_options{}.max_attempts == 3);
    STATIC_REQUIRE(failover::retry_options{}.jitter == jitter::full);
}

TEST_CASE("a fractional exponential factor is exact", "[retry]") {
    constexpr failover::backoff b = failover::exponential{.initial = 1s, .factor = 1.5, .cap = 10s};
    STATIC_REQUIRE(b.delay(1) == 1s);
    STATIC_REQUIRE(b.delay(2) == 1500ms);
    STATIC_REQUIRE(b.delay(3) == 2250ms);
}

TEST_CASE("non-retryable faults return at once with zero sleeps", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5}}).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed(fault::rejected))});
    auto r = p(t);
    CHECK(r.verdict().kind == fault::rejected);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("a verdict with the no-retry flag is never retried", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5}}).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(verdict{.kind = fault::reset, .no_retry = true})});
    auto r = p(t);
    CHECK(r.verdict().kind == fault::reset);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("retry_on chooses the faults that are retried", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5, .retry_on = {fault::timeout}}}).with_time(clock);
    scripted_transport<verdict> throttled(clock, {returns(failed(fault::throttled))});
    (void)p(throttled);
    CHECK(throttled.call_count() == 1);
    scripted_transport<verdict> timeouts(clock, {returns(failed(fault::timeout))});
    (void)p(timeouts);
    CHECK(timeouts.call_count() == 5);
}

TEST_CASE("a server delay longer than the backoff wins", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 100ms}, 3)).with_time(clock);
    auto r = fail_then_succeed(p, clock, 1, verdict{.kind = fault::throttled, .retry_after = 1500ms});
    CHECK(r.ok());
    CHECK(clock.sleep_log() == std::vector<duration>{1500ms});
}

TEST_CASE("a backoff longer than the server delay wins", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 2s}, 3)).with_time(clock);
    auto r = fail_then_succeed(p, clock, 1, verdict{.kind = fault::throttled, .retry_after = 300ms});
    CHECK(r.ok());
    CHECK(clock.sleep_log() == std::vector<duration>{2s});
}

TEST_CASE("a server delay of zero does not shorten the backoff", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 100ms}, 3)).with_time(clock);
    (void)fail_then_succeed(p, clock, 1, verdict{.kind = fault::throttled, .retry_after = 0ms});
    CHECK(clock.sleep_log() == std::vector<duration>{100ms});
}

TEST_CASE("a server delay longer than max_retry_after ends the retries with a rejection carrying it", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5, .max_retry_after = 60s}}).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(verdict{.kind = fault::throttled, .retry_after = 86400s})});
    const auto now = clock.now();
    auto r = p(t);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::retry_after_too_long);
    REQUIRE(r.rejection().retry_at);
    CHECK(*r.rejection().retry_at == now + 86400s);
    CHECK(r.rejection().retry_after(now) == 86400s);
    CHECK(r.verdict().kind == fault::throttled);  // the last attempt's verdict is kept
}

TEST_CASE("a server delay exactly max_retry_after is honoured", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 2, .max_retry_after = 60s}}).with_time(clock);
    auto r = fail_then_succeed(p, clock, 1, verdict{.kind = fault::throttled, .retry_after = 60s});
    CHECK(r.ok());
    CHECK(clock.sleep_log() == std::vector<duration>{60s});
}

TEST_CASE("no sleep runs into the call's deadline and no attempt starts after it", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 400ms}, 10)).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed(), 100ms)});
    const auto t0 = clock.now();
    // 100 ms attempt, 400 ms sleep, 100 ms attempt (ends at 600 ms), and a sleep to 1000 ms
    // would end at the deadline: the call gives up at once with the last result.
    auto r = p(t, 1s);
    CHECK(t.call_count() == 2);
    CHECK(clock.sleep_log() == std::vector<duration>{400ms});
    CHECK(clock.now() - t0 == 600ms);
    CHECK(r.has_value());
    CHECK(r.verdict().kind == fault::unavailable);
}

TEST_CASE("a server delay past the deadline returns the last result without sleeping", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5}}).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(verdict{.kind = fault::throttled, .retry_after = 20s})});
    auto r = p(t, 10s);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
    CHECK(r.verdict().kind == fault::throttled);
}

TEST_CASE("max_duration clamps the last sleep to the time left", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{
                                    {.max_attempts = 10, .backoff = failover::constant{.delay = 400ms}, .jitter = jitter::none,
                                     .max_duration = 1s}})
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed(), 100ms)});
    const auto t0 = clock.now();
    (void)p(t);
    // attempts at 0, 500 ms (after 100 + 400), then 600 ms + 400 ms clamped to the 1 s limit:
    // 400 ms fits exactly; the attempt at 1000 ms is the last; nothing is left after it.
    CHECK(clock.sleep_log() == std::vector<duration>{400ms, 400ms});
    CHECK(t.call_count() == 3);
    const auto calls = t.calls();
    CHECK(calls.back().started - t0 == 1s);
}

TEST_CASE("max_duration shortens a sleep that would overrun it", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{
                                    {.max_attempts = 10, .backoff = failover::constant{.delay = 700ms}, .jitter = jitter::none,
                                     .max_duration = 1s}})
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed(), 100ms)});
    (void)p(t);
    CHECK(clock.sleep_log() == std::vector<duration>{700ms, 100ms});
    CHECK(t.call_count() == 3);
}

TEST_CASE("exceptions are retried and the last one is rethrown", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 10ms}, 3)).with_time(clock);
    int calls = 0;
    try {
        (void)p([&]() -> verdict {
            ++calls;
            throw std::system_error(std::make_error_code(std::errc::connection_refused), "attempt " + std::to_string(calls));
        });
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("attempt 3") != std::string::npos);
    }
    CHECK(calls == 3);
    CHECK(clock.sleeps() == 2);
}

TEST_CASE("an exception the classifier rejects is rethrown at once", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 3}}).with_time(clock);
    int calls = 0;
    CHECK_THROWS_AS(p([&]() -> verdict {
                        ++calls;
                        throw std::invalid_argument("bad request");
                    }),
                    std::invalid_argument);
    CHECK(calls == 1);
}

TEST_CASE("hooks see each retry with its delay and the give-up with its reason", "[retry]") {
    manual_clock clock;
    struct seen_retry {
        unsigned attempt;
        fault kind;
        duration delay;
    };
    std::vector<seen_retry> retries;
    std::vector<failover::give_up_reason> give_ups;
    auto policy = no_jitter(failover::constant{.delay = 50ms}, 3)
                      .on_retry([&](unsigned attempt, const verdict& v, duration d) { retries.push_back({attempt, v.kind, d}); })
                      .on_give_up([&](unsigned attempts, const verdict& v, failover::give_up_reason why) {
                          CHECK(attempts == 3);
                          CHECK(v.kind == fault::timeout);
                          give_ups.push_back(why);
                      });
    auto p = failover::pipeline(policy).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed(fault::timeout))});
    (void)p(t);
    REQUIRE(retries.size() == 2);
    CHECK(retries[0].attempt == 1);
    CHECK(retries[1].attempt == 2);
    CHECK(retries[0].kind == fault::timeout);
    CHECK(retries[1].delay == 50ms);
    CHECK(give_ups == std::vector<failover::give_up_reason>{failover::give_up_reason::attempts_exhausted});
}

TEST_CASE("no hook runs on a success or a non-retryable failure", "[retry]") {
    manual_clock clock;
    int hooks = 0;
    auto p = failover::pipeline(failover::retry{{}}
                                    .on_retry([&](unsigned, const verdict&, duration) { ++hooks; })
                                    .on_give_up([&](unsigned, const verdict&, failover::give_up_reason) { ++hooks; }))
                 .with_time(clock);
    (void)p([] { return ok; });
    (void)p([] { return failed(fault::rejected); });
    CHECK(hooks == 0);
}

TEST_CASE("a delay function replaces the schedule and a negative delay stops", "[retry]") {
    manual_clock clock;
    std::vector<failover::give_up_reason> why;
    auto policy = failover::retry{{.max_attempts = 10}}
                      .delay_with([](unsigned attempt, const verdict& v) -> duration {
                          if (attempt == 3) return -1ns;
                          return v.kind == fault::timeout ? 1s : 10ms * attempt;
                      })
                      .on_give_up([&](unsigned, const verdict&, failover::give_up_reason r) { why.push_back(r); });
    auto p = failover::pipeline(policy).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed()), returns(failed(fault::timeout)), returns(failed())});
    (void)p(t);
    CHECK(clock.sleep_log() == std::vector<duration>{10ms, 1s});
    CHECK(t.call_count() == 3);
    CHECK(why == std::vector<failover::give_up_reason>{failover::give_up_reason::delay_function});
}

namespace {
// An inner policy that refuses until a given time, like an open breaker.
struct closed_until {
    failover::time_point open_at;
    int refusals = 0;
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) -> decltype(next()) {
        if (ctx.now() < open_at) {
            ++refusals;
            return failover::rejection{.reason = failover::rejection_reason::circuit_open, .retry_at = open_at, .source = this};
        }
        return next();
    }
};

// An inner policy that refuses without saying when to come back.
struct refuse {
    template <class Context, class Next>
    auto run(Context&, Next&&) -> decltype(std::declval<Next&>()()) {
        return failover::rejection{.reason = failover::rejection_reason::budget_exhausted};
    }
};
}  // namespace

TEST_CASE("an inner rejection with a near retry time is waited for without spending an attempt", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 2}}, closed_until{clock.now() + 5s}).with_time(clock);
    int calls = 0;
    auto r = p([&] {
        ++calls;
        return ok;
    });
    CHECK(r.ok());
    CHECK(calls == 1);
    CHECK(p.get<1>().refusals == 1);
    CHECK(clock.sleep_log() == std::vector<duration>{5s});
}

TEST_CASE("an inner rejection beyond max_retry_after is returned at once", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5, .max_retry_after = 10s}}, closed_until{clock.now() + 30s})
                 .with_time(clock);
    auto r = p([] { return ok; });
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::circuit_open);
    CHECK(clock.sleeps() == 0);
    CHECK(p.get<1>().refusals == 1);
}

TEST_CASE("an inner rejection past the deadline is returned at once", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5}}, closed_until{clock.now() + 5s}).with_time(clock);
    auto r = p([] { return ok; }, 3s);
    REQUIRE(r.is_rejection());
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("an inner rejection without a retry time is returned at once", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5}}, refuse{}).with_time(clock);
    auto r = p([] { return ok; });
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::budget_exhausted);
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("invalid options are rejected with the field and the range", "[retry]") {
    using failover::config_error;
    CHECK_THROWS_WITH(failover::retry({.max_attempts = 0}), "retry_options.max_attempts must be >= 1 (got 0)");
    CHECK_THROWS_WITH(failover::retry({.backoff = failover::exponential{.initial = 1s, .factor = 0.5}}),
                      "exponential.factor must be in [1, 1e6] (got 0.500)");
    CHECK_THROWS_WITH(failover::retry({.backoff = failover::exponential{.initial = 0ms}}),
                      "exponential.initial must be > 0 ns (got 0)");
    CHECK_THROWS_WITH(failover::retry({.backoff = failover::exponential{.initial = 2s, .cap = 1s}}),
                      Catch::StartsWith("exponential.cap must be >= exponential.initial"));
    CHECK_THROWS_WITH(failover::retry({.backoff = failover::linear{.initial = 2s, .cap = 1s}}),
                      Catch::StartsWith("linear.cap must be >= linear.initial"));
    CHECK_THROWS_WITH(failover::retry({.backoff = failover::linear{.step = -1ms}}), Catch::StartsWith("linear.step must be >= 0"));
    CHECK_THROWS_WITH(failover::retry({.backoff = failover::constant{.delay = -1ms}}),
                      Catch::StartsWith("constant.delay must be >= 0"));
    CHECK_THROWS_WITH(failover::retry({.jitter = static_cast<jitter>(9)}), Catch::StartsWith("retry_options.jitter must be"));
    CHECK_THROWS_WITH(failover::retry({.max_retry_after = -1s}), Catch::StartsWith("retry_options.max_retry_after must be >= 0"));
    CHECK_THROWS_WITH(failover::retry({.max_duration = 0s}), Catch::StartsWith("retry_options.max_duration must be > 0"));
    CHECK_THROWS_AS(failover::retry_budget({.ratio = -0.1}), config_error);
    CHECK_THROWS_AS(failover::retry_budget({.window = 1ms}), config_error);
    CHECK_NOTHROW(failover::retry({.backoff = failover::constant{.delay = 0ms}}));
}

TEST_CASE("a constant configuration is checked at compile time", "[retry]") {
    constexpr failover::retry r{{.max_attempts = 4, .backoff = failover::linear{}, .jitter = jitter::equal}};
    STATIC_REQUIRE(r.options().max_attempts == 4);
}

// --- jitter -------------------------------------------------------------------------------------

namespace {
struct jitter_stats {
    double mean_ns = 0;
    duration min = duration::max();
    duration max = duration::min();
};

jitter_stats draw(jitter j, const failover::backoff& b, unsigned failed_attempt, duration previous, int n) {
    failover::seed_jitter(12345);
    jitter_stats s;
    long double sum = 0;
    for (int i = 0; i < n; ++i) {
        duration prev = previous;
        const duration d = failover::detail::apply_jitter(j, b, failed_attempt, failover::detail::thread_rng().uniform01(), prev);
        sum += static_cast<long double>(d.count());
        if (d < s.min) s.min = d;
        if (d > s.max) s.max = d;
    }
    s.mean_ns = static_cast<double>(sum / n);
    return s;
}
}  // namespace

TEST_CASE("full jitter stays between 0 and d with mean d/2", "[retry][jitter]") {
    const failover::backoff b = failover::exponential{.initial = 100ms, .factor = 2, .cap = 10s};
    const auto s = draw(jitter::full, b, 3, 0ns, 100000);  // d = 400 ms
    CHECK(s.min >= 0ms);
    CHECK(s.max < 400ms);
    CHECK(s.mean_ns == Approx(200e6).epsilon(0.02));
}

TEST_CASE("equal jitter stays between d/2 and d with mean 3d/4", "[retry][jitter]") {
    const failover::backoff b = failover::exponential{.initial = 100ms, .factor = 2, .cap = 10s};
    const auto s = draw(jitter::equal, b, 3, 0ns, 100000);
    CHECK(s.min >= 200ms);
    CHECK(s.max < 400ms);
    CHECK(s.mean_ns == Approx(300e6).epsilon(0.02));
}

TEST_CASE("decorrelated jitter stays between initial and 3 x previous with its mean", "[retry][jitter]") {
    const failover::backoff b = failover::exponential{.initial = 100ms, .factor = 2, .cap = 10s};
    const auto s = draw(jitter::decorrelated, b, 3, 1s, 100000);
    CHECK(s.min >= 100ms);
    CHECK(s.max < 3s);
    CHECK(s.mean_ns == Approx((100e6 + 3e9) / 2).epsilon(0.02));
}

TEST_CASE("decorrelated jitter never passes the cap", "[retry][jitter]") {
    const failover::backoff b = failover::exponential{.initial = 100ms, .factor = 2, .cap = 1s};
    const auto s = draw(jitter::decorrelated, b, 9, 900ms, 100000);  // 3 x 900 ms would pass 1 s
    CHECK(s.min >= 100ms);
    CHECK(s.max <= 1s);
}

TEST_CASE("full and equal jitter never pass the cap", "[retry][jitter]") {
    const failover::backoff b = failover::exponential{.initial = 100ms, .factor = 3, .cap = 1s};
    CHECK(draw(jitter::full, b, 12, 0ns, 20000).max < 1s);
    CHECK(draw(jitter::equal, b, 12, 0ns, 20000).max < 1s);
}

TEST_CASE("decorrelated jitter walks from its own previous draw within one call", "[retry][jitter]") {
    manual_clock clock;
    failover::seed_jitter(7);
    auto p = failover::pipeline(failover::retry{{.max_attempts = 6,
                                                 .backoff = failover::exponential{.initial = 100ms, .factor = 2, .cap = 5s},
                                                 .jitter = jitter::decorrelated}})
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed())});
    (void)p(t);
    const auto log = clock.sleep_log();
    REQUIRE(log.size() == 5);
    duration prev = 100ms;
    for (duration d : log) {
        CHECK(d >= 100ms);
        CHECK(d <= 3 * prev);
        CHECK(d <= 5s);
        prev = d;
    }
}

TEST_CASE("the same seed gives the same jittered schedule", "[retry][jitter]") {
    auto schedule = [] {
        manual_clock clock;
        failover::seed_jitter(99);
        auto p = failover::pipeline(failover::retry{{.max_attempts = 5}}).with_time(clock);
        scripted_transport<verdict> t(clock, {returns(failed())});
        (void)p(t);
        return clock.sleep_log();
    };
    const auto a = schedule();
    CHECK(a == schedule());
    CHECK(a.size() == 4);
}

// --- budget -------------------------------------------------------------------------------------

TEST_CASE("a budget allows its minimum of retries when traffic is low", "[retry][budget]") {
    manual_clock clock;
    failover::retry_budget budget({.ratio = 0.1, .min_retries = 3, .window = 10s});
    auto p = failover::pipeline(failover::retry{{.max_attempts = 10, .backoff = failover::constant{.delay = 0ms}, .budget = &budget}})
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed())});
    (void)p(t);
    CHECK(t.call_count() == 4);  // the first attempt and the minimum of 3 retries
}

TEST_CASE("a denied retry returns the last result at once", "[retry][budget]") {
    manual_clock clock;
    failover::retry_budget budget({.ratio = 0.0, .min_retries = 0, .window = 10s});
    std::vector<failover::give_up_reason> why;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5, .budget = &budget}}.on_give_up(
                                    [&](unsigned, const verdict&, failover::give_up_reason r) { why.push_back(r); }))
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed(fault::reset))});
    auto r = p(t);
    CHECK(r.verdict().kind == fault::reset);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
    CHECK(why == std::vector<failover::give_up_reason>{failover::give_up_reason::budget_exhausted});
}

TEST_CASE("a budget allows retries in proportion to first attempts", "[retry][budget]") {
    manual_clock clock;
    failover::retry_budget budget({.ratio = 0.25, .min_retries = 0, .window = 10s});
    // The first failure sees an empty window (no mark yet); the 100 successes that follow fill it.
    auto p = failover::pipeline(failover::retry{{.max_attempts = 2, .backoff = failover::constant{.delay = 0ms}, .budget = &budget}})
                 .with_time(clock);
    (void)p([] { return failed(); });
    for (int i = 0; i < 100; ++i) (void)p([] { return ok; });
    int retried = 0;
    for (int i = 0; i < 100; ++i) {
        int calls = 0;
        (void)p([&] {
            ++calls;
            return failed();
        });
        retried += calls - 1;
    }
    // 201 first attempts, 200 of them after the first failure's mark: at most 0.25 x 200 retries.
    CHECK(retried == 50);
    const auto snap = budget.read(clock.now());
    CHECK(snap.retries == 50);
    CHECK(snap.first_attempts == 200);
}

TEST_CASE("a budget's window moves on", "[retry][budget]") {
    manual_clock clock;
    failover::retry_budget budget({.ratio = 0.0, .min_retries = 2, .window = 10s});
    CHECK(budget.try_acquire_retry(clock.now()));
    CHECK(budget.try_acquire_retry(clock.now()));
    CHECK_FALSE(budget.try_acquire_retry(clock.now()));
    clock.advance(5s);
    CHECK_FALSE(budget.try_acquire_retry(clock.now()));
    clock.advance(6s);  // the first bucket has left the window
    CHECK(budget.try_acquire_retry(clock.now()));
}

TEST_CASE("a shared budget holds its ratio across 8 threads of failing calls", "[retry][budget][concurrency]") {
    // Virtual time that does not move: every call falls in one window.
    struct frozen_time {
        failover::time_point now() { return failover::time_point{} + 1h; }
        void sleep_for(duration) {}
    };
    frozen_time time;
    failover::retry_budget budget({.ratio = 0.2, .min_retries = 5, .window = 10s});
    auto p = failover::pipeline(failover::retry{{.max_attempts = 4, .budget = &budget}}).with_time(time);
    std::atomic<long> transport_calls{0};
    constexpr int threads = 8, calls_per_thread = 2000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < calls_per_thread; ++i)
                (void)p([&] {
                    transport_calls.fetch_add(1, std::memory_order_relaxed);
                    return failed();
                });
        });
    for (auto& th : pool) th.join();
    const long firsts = long{threads} * calls_per_thread;
    const long retries = transport_calls - firsts;
    INFO("first attempts " << firsts << ", retries " << retries);
    CHECK(retries <= std::max<long>(5, static_cast<long>(0.2 * firsts)));
    CHECK(retries >= 5);  // the budget did let retries through
    CHECK(budget.read(time.now()).retries == static_cast<std::uint64_t>(retries));
}

// --- scenario -----------------------------------------------------------------------------------

TEST_CASE("with 30 percent random failures the success share is 1 - 0.3^max_attempts", "[retry][scenario]") {
    manual_clock clock;
    failover::detail::xoshiro256 transport_rng(2026);  // the transport's own dice, fixed seed
    constexpr unsigned max_attempts = 3;
    auto p = failover::pipeline(failover::retry{{.max_attempts = max_attempts}}).with_time(clock);
    constexpr int calls = 20000;
    int succeeded = 0;
    long attempts = 0;
    for (int i = 0; i < calls; ++i) {
        auto r = p([&] { return transport_rng.uniform01() < 0.3 ? failed(fault::timeout) : ok; });
        succeeded += r.ok();
        attempts += r.report().attempts;
    }
    const double expected = 1.0 - std::pow(0.3, max_attempts);  // 0.973
    const double share = static_cast<double>(succeeded) / calls;
    const double sigma = std::sqrt(expected * (1 - expected) / calls);
    INFO("success share " << share << " expected " << expected << " attempts per call " << double(attempts) / calls);
    CHECK(std::abs(share - expected) < 4 * sigma);
    // Expected attempts per call: 1 + 0.3 + 0.09 = 1.39.
    CHECK(static_cast<double>(attempts) / calls == Approx(1.39).epsilon(0.02));
}

// --- edges found in review ----------------------------------------------------------------------

namespace {
// Real sleeps overrun: this time source sleeps 2 ms longer than asked.
struct overrunning_time {
    failover::testing::manual_clock* clock;
    failover::time_point now() { return clock->now(); }
    void sleep_for(duration d) { clock->sleep_for(d + 2ms); }
};

// Refuses `times` times with a retry time `after` from now, then lets calls through.
struct refuse_for {
    int times;
    duration after;
    int refusals = 0;
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) -> decltype(next()) {
        if (refusals < times) {
            ++refusals;
            return failover::rejection{.reason = failover::rejection_reason::circuit_open, .retry_at = ctx.now() + after};
        }
        return next();
    }
};
}  // namespace

TEST_CASE("a sleep that overruns the deadline returns the last answer, not a refusal", "[retry]") {
    manual_clock clock;
    std::vector<failover::give_up_reason> why;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 949ms}, 5).on_give_up(
                                    [&](unsigned, const verdict&, failover::give_up_reason r) { why.push_back(r); }))
                 .with_time(overrunning_time{&clock});
    scripted_transport<verdict> t(clock, {returns(failed(), 50ms)});
    auto r = p(t, 1s);  // 50 ms + 949 ms fits, but the sleep ends at 1001 ms
    CHECK(t.call_count() == 1);
    REQUIRE(r.has_value());
    CHECK(r.verdict().kind == fault::unavailable);
    CHECK(why == std::vector<failover::give_up_reason>{failover::give_up_reason::deadline});
}

TEST_CASE("max_duration never shortens a server-directed wait", "[retry]") {
    manual_clock clock;
    std::vector<failover::give_up_reason> why;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 5, .max_duration = 5s}}.on_give_up(
                                    [&](unsigned, const verdict&, failover::give_up_reason r) { why.push_back(r); }))
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(verdict{.kind = fault::throttled, .retry_after = 30s})});
    auto r = p(t);
    CHECK(t.call_count() == 1);
    CHECK(clock.sleeps() == 0);
    CHECK(r.verdict().kind == fault::throttled);
    CHECK(why == std::vector<failover::give_up_reason>{failover::give_up_reason::max_duration});
}

TEST_CASE("an inner refusal that is already due is waited for one backoff step, not re-asked in a loop", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 100ms}, 50), refuse_for{1000, 0ms}).with_time(clock);
    auto r = p([] { return ok; });
    REQUIRE(r.is_rejection());
    CHECK(p.get<1>().refusals == 50);   // the first refusal and 49 waits: max_attempts bounds them
    CHECK(clock.sleeps() == 49);
    CHECK(clock.slept() == 49 * 100ms);
}

TEST_CASE("waiting on an inner refusal does not spend an attempt", "[retry]") {
    manual_clock clock;
    auto p = failover::pipeline(no_jitter(failover::constant{.delay = 10ms}, 2), refuse_for{1, 1s}).with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed()), returns(ok)});
    auto r = p(t);
    CHECK(r.ok());  // refused, waited, failed, retried (the second of two attempts), succeeded
    CHECK(t.call_count() == 2);
    CHECK(clock.sleep_log() == std::vector<duration>{1s, 10ms});
}

TEST_CASE("waits on inner refusals are bounded by max_attempts", "[retry]") {
    manual_clock clock;
    std::vector<failover::give_up_reason> why;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 3}}.on_give_up(
                                    [&](unsigned, const verdict&, failover::give_up_reason r) { why.push_back(r); }),
                                refuse_for{1000, 1s})
                 .with_time(clock);
    auto r = p([] { return ok; });
    REQUIRE(r.is_rejection());
    CHECK(p.get<1>().refusals == 3);
    CHECK(clock.sleeps() == 2);
    CHECK(why.empty());  // no attempt was made, so nothing retryable was given up
}

TEST_CASE("configured jitter reaches the sleeps", "[retry][jitter]") {
    manual_clock clock;
    failover::seed_jitter(5);
    auto p = failover::pipeline(failover::retry{{.max_attempts = 8,
                                                 .backoff = failover::constant{.delay = 1s},
                                                 .jitter = jitter::full}})
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed())});
    (void)p(t);
    const auto log = clock.sleep_log();
    REQUIRE(log.size() == 7);
    for (duration d : log) {
        CHECK(d >= 0ms);
        CHECK(d < 1s);  // full jitter draws in [0, d); without jitter every sleep would be 1 s
    }
    CHECK(std::adjacent_find(log.begin(), log.end()) == log.end());  // and they differ
}

TEST_CASE("decorrelated jitter grows past three times the initial delay", "[retry][jitter]") {
    manual_clock clock;
    failover::seed_jitter(11);
    auto p = failover::pipeline(failover::retry{{.max_attempts = 12,
                                                 .backoff = failover::exponential{.initial = 100ms, .factor = 2, .cap = 60s},
                                                 .jitter = jitter::decorrelated}})
                 .with_time(clock);
    scripted_transport<verdict> t(clock, {returns(failed())});
    (void)p(t);
    const auto log = clock.sleep_log();
    // A walk from its own previous draw reaches beyond 3 x initial; draws from the base alone
    // (a walk that forgot its state) never could.
    CHECK(*std::max_element(log.begin(), log.end()) > 300ms);
}

TEST_CASE("decorrelated jitter with an unbounded cap stays positive", "[retry][jitter]") {
    const failover::backoff b = failover::exponential{.initial = duration::max() / 2, .factor = 1, .cap = duration::max()};
    duration previous = duration::max() / 2;
    const duration d = failover::detail::apply_jitter(jitter::decorrelated, b, 1, 0.99, previous);
    CHECK(d == duration::max());
}

TEST_CASE("budget slots are handed back when threads end", "[retry][budget][concurrency]") {
    failover::retry_budget budget;
    const failover::time_point now = failover::time_point{} + 1h;
    (void)budget.read(now);  // the window's first mark, before any first attempt
    // 200 threads, one after another: without recycling, the 65th would share a slot.
    for (int t = 0; t < 200; ++t) {
        std::thread([&] {
            for (int i = 0; i < 100; ++i) budget.record_first_attempt();
        }).join();
    }
    CHECK(budget.read(now).first_attempts == 20000);
}
