#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <system_error>

using namespace std::chrono_literals;
using failover::fault;
using failover::verdict;
using failover::testing::manual_clock;
using failover::testing::returns;
using failover::testing::scripted_transport;

namespace {
failover::attempt first_attempt() { return failover::attempt{}; }

// Makes a second attempt when the first one fails.
struct twice {
    template <class Context, class Next>
    auto run(Context&, Next&& next) {
        auto out = next();
        return out.ok() ? out : next();
    }
};
}  // namespace

TEST_CASE("a scripted transport plays its steps in order and repeats the last", "[testing]") {
    manual_clock clock;
    scripted_transport<int> t(clock, {returns(1), returns(2), returns(3)});
    const failover::attempt a = first_attempt();
    CHECK(t(a) == 1);
    CHECK(t(a) == 2);
    CHECK(t(a) == 3);
    CHECK(t(a) == 3);
    CHECK(t.call_count() == 4);
}

TEST_CASE("a cycling script starts over", "[testing]") {
    manual_clock clock;
    scripted_transport<int> t(clock, {returns(1), returns(2)}, failover::testing::when_done::cycle);
    const failover::attempt a = first_attempt();
    CHECK(t(a) == 1);
    CHECK(t(a) == 2);
    CHECK(t(a) == 1);
    CHECK(t(a) == 2);
}

TEST_CASE("a step's latency advances the manual clock", "[testing]") {
    manual_clock clock;
    scripted_transport<int> t(clock, {returns(1, 250ms), returns(2, 1s)});
    const auto t0 = clock.now();
    const failover::attempt a = first_attempt();
    (void)t(a);
    CHECK(clock.now() == t0 + 250ms);
    (void)t(a);
    CHECK(clock.now() == t0 + 1250ms);
    CHECK(clock.sleeps() == 0);  // latency is not a sleep
    const auto calls = t.calls();
    CHECK(calls[0].started == t0);
    CHECK(calls[1].started == t0 + 250ms);
}

TEST_CASE("a step can throw", "[testing]") {
    manual_clock clock;
    scripted_transport<int> t(clock, {failover::testing::throws<int>(std::runtime_error("down"), 10ms), returns(5)});
    const failover::attempt a = first_attempt();
    CHECK_THROWS_WITH(t(a), "down");
    CHECK(t(a) == 5);
    CHECK(t.call_count() == 2);
}

TEST_CASE("an empty script or an empty step is a configuration error", "[testing]") {
    manual_clock clock;
    CHECK_THROWS_AS(scripted_transport<int>(clock, std::vector<failover::testing::step<int>>{}), failover::config_error);
    CHECK_THROWS_AS(scripted_transport<int>(clock, {failover::testing::step<int>{}}), failover::config_error);
}

TEST_CASE("a scripted transport records what each attempt carried", "[testing]") {
    manual_clock clock;
    scripted_transport<verdict> t(clock, {returns(verdict{.kind = fault::timeout}, 100ms), returns(verdict{})});
    auto p = failover::pipeline(twice{}).with_time(clock);
    auto r = p(t, 10s);
    CHECK(r.ok());
    const auto calls = t.calls();
    REQUIRE(calls.size() == 2);
    CHECK(calls[0].attempt_number == 1);
    CHECK(calls[0].time_left == 10s);
    CHECK(calls[1].attempt_number == 2);
    CHECK(calls[1].time_left == 9900ms);
    CHECK_FALSE(calls[1].had_region);
}
