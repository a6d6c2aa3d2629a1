#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using failover::fault;
using failover::verdict;
using failover::testing::manual_clock;
using failover::testing::returns;

namespace app {
// A result type of the user's own, taught to the library once.
struct reply {
    int status = 200;
    std::string body;
};
verdict failover_classify(const reply& r) {
    if (r.status == 200) return verdict{};
    if (r.status == 429) return verdict{.kind = fault::throttled, .retry_after = 2s};
    return verdict{.kind = r.status >= 500 ? fault::unavailable : fault::rejected};
}

// Policies written as a user would write them.

/// Counts the calls and attempts that pass through it.
struct counting_layer {
    int calls = 0;
    template <class Context, class Next>
    auto run(Context&, Next&& next) {
        ++calls;
        return next();
    }
};

/// Logs the order in which layers see an attempt, and what came back.
struct logging_layer {
    std::vector<std::string>* log;
    std::string name;
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        log->push_back(name + " before attempt " + std::to_string(ctx.attempts() + 1));
        auto out = next();
        log->push_back(name + " after: " + (out.is_rejection() ? std::string("rejection") : to_string(out.verdict().kind)));
        return out;
    }
};

/// A tiny retry: runs the inner layers again while the verdict is retryable, sleeping 100 ms.
struct naive_retry {
    unsigned max_attempts = 3;
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        auto out = next();
        while (!out.is_rejection() && out.verdict().retryable() && ctx.attempts() < max_attempts) {
            ctx.sleep_for(100ms);
            out = next();
        }
        return out;
    }
};

/// Refuses every call without reaching the transport.
struct closed_door {
    template <class Context, class Next>
    auto run(Context& ctx, Next&&) -> decltype(std::declval<Next&>()()) {
        return failover::rejection{.reason = failover::rejection_reason::circuit_open,
                                   .retry_at = ctx.now() + 30s,
                                   .source = this};
    }
};

/// Per-call state: counts the attempts of one call, across the attempts that pass through it.
struct per_call_counter {
    struct call_state {
        int seen = 0;
    };
    std::vector<int>* seen_per_attempt;
    template <class Context, class Next>
    auto run(Context&, call_state& state, Next&& next) {
        seen_per_attempt->push_back(++state.seen);
        return next();
    }
};
}  // namespace app

static_assert(failover::policy<app::counting_layer>);
static_assert(failover::policy<app::logging_layer>);
static_assert(failover::policy<app::naive_retry>);
static_assert(failover::policy<app::per_call_counter>);
static_assert(!failover::policy<int>);
static_assert(!failover::policy<app::reply>);

TEST_CASE("an empty pipeline calls the transport once and classifies the result", "[pipeline]") {
    auto p = failover::pipeline();
    int calls = 0;
    failover::result<app::reply> r = p([&] {
        ++calls;
        return app::reply{200, "hello"};
    });
    CHECK(calls == 1);
    CHECK(r.ok());
    CHECK(r.has_value());
    CHECK_FALSE(r.is_rejection());
    CHECK(r->body == "hello");
    CHECK(r.value().status == 200);
    CHECK(r.report().attempts == 1);
    CHECK(r.report().waited == 0s);
}

TEST_CASE("a failed answer is still handed back with its verdict", "[pipeline]") {
    auto p = failover::pipeline();
    auto r = p([] { return app::reply{503, "try later"}; });
    CHECK_FALSE(r.ok());
    REQUIRE(r.has_value());
    CHECK((*r).body == "try later");
    CHECK(r.verdict().kind == fault::unavailable);
}

TEST_CASE("the transport is handed the attempt number and no region by default", "[pipeline]") {
    auto p = failover::pipeline();
    auto r = p([](const failover::attempt& a) {
        CHECK(a.number() == 1);
        CHECK_FALSE(a.is_retry());
        CHECK_FALSE(a.has_region());
        CHECK_FALSE(a.is_failover());
        CHECK(a.deadline().is_none());
        CHECK(a.time_left() == failover::duration::max());
        return std::error_code{};
    });
    CHECK(r.ok());
}

TEST_CASE("built-in result types need no classifier", "[pipeline]") {
    auto p = failover::pipeline();
    CHECK(p([] { return std::make_error_code(std::errc::timed_out); }).verdict().kind == fault::timeout);
    CHECK(p([] { return verdict{.kind = fault::throttled}; }).verdict().kind == fault::throttled);
}

TEST_CASE("policies run outermost first and see the verdict on the way out", "[pipeline]") {
    std::vector<std::string> log;
    auto p = failover::pipeline(app::logging_layer{&log, "outer"}, app::logging_layer{&log, "inner"});
    auto r = p([] { return app::reply{503, ""}; });
    CHECK_FALSE(r.ok());
    CHECK(log == std::vector<std::string>{"outer before attempt 1", "inner before attempt 1", "inner after: unavailable",
                                          "outer after: unavailable"});
}

TEST_CASE("a user policy keeps its state in the pipeline across calls", "[pipeline]") {
    auto p = failover::pipeline(app::counting_layer{});
    for (int i = 0; i < 3; ++i) (void)p([] { return app::reply{}; });
    CHECK(p.get<0>().calls == 3);
}

TEST_CASE("a policy that calls next again makes numbered attempts and sleeps on the pipeline clock", "[pipeline]") {
    manual_clock clock;
    failover::testing::scripted_transport<app::reply> transport(
        clock, {returns(app::reply{503, ""}), returns(app::reply{503, ""}), returns(app::reply{200, "ok"})});
    auto p = failover::pipeline(app::naive_retry{.max_attempts = 5}, app::counting_layer{}).with_time(clock);
    const auto t0 = clock.now();
    auto r = p(transport);
    CHECK(r.ok());
    CHECK(r.report().attempts == 3);
    CHECK(r.report().waited == 200ms);
    CHECK(clock.now() - t0 == 200ms);
    CHECK(clock.sleeps() == 2);
    CHECK(p.get<1>().calls == 3);  // the inner layer sees every attempt
    const auto calls = transport.calls();
    REQUIRE(calls.size() == 3);
    CHECK(calls[0].attempt_number == 1);
    CHECK(calls[1].attempt_number == 2);
    CHECK(calls[2].attempt_number == 3);
    CHECK(calls[2].started == t0 + 200ms);
}

TEST_CASE("a policy can refuse without reaching the transport", "[pipeline]") {
    manual_clock clock;
    auto p = failover::pipeline(app::closed_door{}).with_time(clock);
    int calls = 0;
    auto r = p([&] {
        ++calls;
        return app::reply{};
    });
    CHECK(calls == 0);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.has_value());
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::circuit_open);
    CHECK(r.rejection().source == &p.get<0>());
    CHECK(r.rejection().retry_after(clock.now()) == 30s);
    CHECK(r.rejection().retry_after(clock.now() + 1h) == 0s);
    CHECK(r.report().attempts == 0);
    CHECK_THROWS_AS(r.value(), failover::bad_result_access);
}

TEST_CASE("a rejection without a retry time says so", "[pipeline]") {
    const failover::rejection r{.reason = failover::rejection_reason::budget_exhausted};
    CHECK_FALSE(r.retry_after(failover::time_point{}).has_value());
    CHECK(std::string(to_string(r.reason)) == "budget_exhausted");
}

TEST_CASE("per-call state lives for one call and is fresh for the next", "[pipeline]") {
    std::vector<int> seen;
    manual_clock clock;
    auto p = failover::pipeline(app::naive_retry{.max_attempts = 3}, app::per_call_counter{&seen}).with_time(clock);
    (void)p([] { return app::reply{503, ""}; });
    (void)p([] { return app::reply{200, ""}; });
    CHECK(seen == std::vector<int>{1, 2, 3, 1});
}

TEST_CASE("an expired deadline refuses the call before the transport", "[pipeline]") {
    manual_clock clock;
    auto p = failover::pipeline().with_time(clock);
    int calls = 0;
    auto r = p(
        [&] {
            ++calls;
            return app::reply{};
        },
        failover::deadline(clock.now()));
    CHECK(calls == 0);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::deadline_exceeded);
    CHECK(r.report().attempts == 0);
}

TEST_CASE("the attempt carries the deadline and the time left", "[pipeline]") {
    manual_clock clock;
    auto p = failover::pipeline().with_time(clock);
    const failover::deadline d = failover::deadline::after(clock.now(), 5s);
    auto r = p(
        [&](const failover::attempt& a) {
            CHECK(a.deadline() == d);
            CHECK(a.time_left() == 5s);
            return app::reply{};
        },
        d);
    CHECK(r.ok());
}

TEST_CASE("a relative timeout becomes a deadline on the pipeline clock", "[pipeline]") {
    manual_clock clock;
    auto p = failover::pipeline().with_time(clock);
    auto r = p(
        [&](const failover::attempt& a) {
            CHECK(a.deadline().at() == clock.now() + 1500ms);
            CHECK(a.time_left() == 1500ms);
            return app::reply{};
        },
        1500ms);
    CHECK(r.ok());
}

TEST_CASE("no attempt starts after the deadline even when a policy asks for one", "[pipeline]") {
    manual_clock clock;
    failover::testing::scripted_transport<app::reply> transport(clock, {returns(app::reply{503, ""}, 400ms)});
    auto p = failover::pipeline(app::naive_retry{.max_attempts = 10}).with_time(clock);
    // attempt 1 ends at 400 ms, sleep to 500, attempt 2 ends at 900, sleep to 1000 = deadline.
    auto r = p(transport, 1s);
    CHECK(transport.call_count() == 2);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::deadline_exceeded);
    CHECK(r.report().attempts == 2);
    CHECK(r.verdict().kind == fault::unavailable);  // the last attempt's verdict is kept
    const auto calls = transport.calls();
    CHECK(calls[0].time_left == 1s);
    CHECK(calls[1].time_left == 500ms);
}

TEST_CASE("a throwing transport is classified and the exception is rethrown at the end", "[pipeline]") {
    manual_clock clock;
    std::vector<std::string> log;
    auto p = failover::pipeline(app::logging_layer{&log, "l"}).with_time(clock);
    CHECK_THROWS_AS(p([]() -> app::reply { throw std::system_error(std::make_error_code(std::errc::connection_reset)); }),
                    std::system_error);
    CHECK(log.back() == "l after: reset");
    CHECK_THROWS_WITH(p([]() -> app::reply { throw std::runtime_error("bad request body"); }), "bad request body");
    CHECK(log.back() == "l after: rejected");
}

TEST_CASE("a thrown exception is retried like a failed result and the last one is rethrown", "[pipeline]") {
    manual_clock clock;
    failover::testing::scripted_transport<app::reply> transport(
        clock, {failover::testing::throws<app::reply>(std::system_error(std::make_error_code(std::errc::timed_out), "first")),
                failover::testing::throws<app::reply>(std::system_error(std::make_error_code(std::errc::timed_out), "second"))});
    auto p = failover::pipeline(app::naive_retry{.max_attempts = 3}).with_time(clock);
    try {
        (void)p(transport);
        FAIL("the call should have thrown");
    } catch (const std::system_error& e) {
        CHECK(std::string(e.what()).find("second") != std::string::npos);
    }
    CHECK(transport.call_count() == 3);
}

TEST_CASE("a thrown exception that is then cured returns the value", "[pipeline]") {
    manual_clock clock;
    failover::testing::scripted_transport<app::reply> transport(
        clock, {failover::testing::throws<app::reply>(std::system_error(std::make_error_code(std::errc::connection_refused))),
                returns(app::reply{200, "second time lucky"})});
    auto p = failover::pipeline(app::naive_retry{}).with_time(clock);
    auto r = p(transport);
    CHECK(r.ok());
    CHECK(r->body == "second time lucky");
}

TEST_CASE("classify_with replaces the classifier for values and exceptions", "[pipeline]") {
    struct by_value {
        verdict operator()(int v) const { return v == 0 ? verdict{} : verdict{.kind = fault::unavailable}; }
        verdict operator()(const std::exception_ptr&) const { return verdict{.kind = fault::timeout}; }
    };
    std::vector<std::string> log;
    auto p = failover::pipeline(app::logging_layer{&log, "l"}).classify_with(by_value{});
    CHECK(p([] { return 0; }).ok());
    CHECK(p([] { return 7; }).verdict().kind == fault::unavailable);
    CHECK_THROWS(p([]() -> int { throw std::runtime_error("x"); }));
    CHECK(log.back() == "l after: timeout");
}

TEST_CASE("a classifier without an exception overload falls back to the default for exceptions", "[pipeline]") {
    std::vector<std::string> log;
    auto p = failover::pipeline(app::logging_layer{&log, "l"}).classify_with([](int) { return verdict{}; });
    CHECK_THROWS(p([]() -> int { throw std::system_error(std::make_error_code(std::errc::broken_pipe)); }));
    CHECK(log.back() == "l after: reset");
}

TEST_CASE("exactly one classification per attempt", "[pipeline]") {
    int classifications = 0;
    manual_clock clock;
    auto p = failover::pipeline(app::naive_retry{.max_attempts = 4}, app::counting_layer{})
                 .with_time(clock)
                 .classify_with([&](int v) {
                     ++classifications;
                     return v < 3 ? verdict{.kind = fault::reset} : verdict{};
                 });
    int n = 0;
    auto r = p([&] { return ++n; });
    CHECK(r.ok());
    CHECK(r.report().attempts == 3);
    CHECK(classifications == 3);
}

TEST_CASE("a move-only result type is moved out to the caller", "[pipeline]") {
    auto p = failover::pipeline().classify_with([](const std::unique_ptr<int>& v) {
        return v ? verdict{} : verdict{.kind = fault::reset};
    });
    auto r = p([] { return std::make_unique<int>(42); });
    REQUIRE(r.ok());
    std::unique_ptr<int> v = std::move(r).value();
    CHECK(*v == 42);
}

TEST_CASE("a policy can be shared by reference between pipelines", "[pipeline]") {
    app::counting_layer shared;
    auto a = failover::pipeline(failover::ref(shared));
    auto b = failover::pipeline(app::counting_layer{}, failover::ref(shared));
    (void)a([] { return app::reply{}; });
    (void)b([] { return app::reply{}; });
    (void)b([] { return app::reply{}; });
    CHECK(shared.calls == 3);
    CHECK(b.get<0>().calls == 2);
    CHECK(&a.get<0>().get() == &shared);
}

TEST_CASE("a per-call state policy works by reference too", "[pipeline]") {
    std::vector<int> seen;
    app::per_call_counter counter{&seen};
    manual_clock clock;
    auto p = failover::pipeline(app::naive_retry{.max_attempts = 2}, failover::ref(counter)).with_time(clock);
    (void)p([] { return app::reply{503, ""}; });
    CHECK(seen == std::vector<int>{1, 2});
}

namespace {
struct endpoint {
    std::string url;
};
// The smallest region selector: always the second region.
struct route_to_second {
    const std::vector<endpoint>* regions;
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        ctx.route_to((*regions)[1], 1, true);
        return next();
    }
};
}  // namespace

TEST_CASE("a selector routes the attempt to the user's region object", "[pipeline]") {
    const std::vector<endpoint> regions{{"https://a.example"}, {"https://b.example"}};
    auto p = failover::pipeline(route_to_second{&regions});
    auto r = p([](const failover::attempt& a) {
        REQUIRE(a.has_region());
        CHECK(a.region_index() == 1);
        CHECK(a.is_failover());
        CHECK(a.region<endpoint>().url == "https://b.example");
        return app::reply{};
    });
    CHECK(r.ok());
}

namespace {
// A value whose move can be made to throw, holding heap memory so that ASan sees a double free.
struct fragile {
    std::string text;
    static inline bool fail = false;
    explicit fragile(std::string t) : text(std::move(t)) {}
    fragile(const fragile&) = default;
    fragile(fragile&& o) : text(o.text) {
        if (fail) throw std::runtime_error("move failed");
    }
    fragile& operator=(const fragile&) = default;
    fragile& operator=(fragile&&) = default;
};
}  // namespace

TEST_CASE("an outcome whose value fails to move is left destroyable once", "[pipeline]") {
    failover::outcome<fragile> a(fragile{std::string(64, 'a')}, verdict{});
    failover::outcome<fragile> b(fragile{std::string(64, 'b')}, verdict{.kind = fault::reset});
    fragile::fail = true;
    CHECK_THROWS_AS(a = std::move(b), std::runtime_error);
    fragile::fail = false;
    CHECK_FALSE(a.has_value());  // the old value is gone and no new one was made
    // Leaving scope destroys a and b: under ASan a second destruction of a's string would fail.
}

TEST_CASE("attempt::region accepts the region type with or without const", "[pipeline]") {
    const std::vector<endpoint> regions{{"https://a.example"}, {"https://b.example"}};
    auto p = failover::pipeline(route_to_second{&regions});
    auto r = p([](const failover::attempt& a) {
        CHECK(a.region<const endpoint>().url == "https://b.example");
        return app::reply{};
    });
    CHECK(r.ok());
}
