#include <failover/testing.hpp>
#include <failover/time.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <limits>

using namespace std::chrono_literals;
using failover::deadline;
using failover::duration;
using failover::time_point;
namespace detail = failover::detail;

TEST_CASE("saturating addition clamps instead of overflowing", "[time]") {
    STATIC_REQUIRE(detail::add_sat(duration::max(), 1ns) == duration::max());
    STATIC_REQUIRE(detail::add_sat(duration::min(), -1ns) == duration::min());
    STATIC_REQUIRE(detail::add_sat(5ns, -7ns) == -2ns);
    STATIC_REQUIRE(detail::add_sat(time_point::max() - 1s, 2s) == time_point::max());
    STATIC_REQUIRE(detail::add_sat(time_point{} + 1s, 2s) == time_point{} + 3s);
}

TEST_CASE("saturating subtraction of time points clamps", "[time]") {
    STATIC_REQUIRE(detail::sub_sat(time_point::max(), time_point::min()) == duration::max());
    STATIC_REQUIRE(detail::sub_sat(time_point::min(), time_point::max()) == duration::min());
    STATIC_REQUIRE(detail::sub_sat(time_point{} + 5s, time_point{} + 2s) == 3s);
}

TEST_CASE("huge durations of other units saturate when converted", "[time]") {
    STATIC_REQUIRE(detail::to_duration_sat(std::chrono::hours::max()) == duration::max());
    STATIC_REQUIRE(detail::to_duration_sat(std::chrono::hours::min()) == duration::min());
    STATIC_REQUIRE(detail::to_duration_sat(2s) == 2'000'000'000ns);
}

TEST_CASE("a default deadline never expires", "[time]") {
    constexpr deadline d;
    STATIC_REQUIRE(d.is_none());
    STATIC_REQUIRE(d == deadline::none());
    STATIC_REQUIRE_FALSE(d.expired(time_point::max()));
    STATIC_REQUIRE(d.remaining(time_point{}) == duration::max());
}

TEST_CASE("a deadline expires at its time and reports the time left", "[time]") {
    constexpr time_point t0 = time_point{} + 10s;
    constexpr deadline d = deadline::after(t0, 3s);
    STATIC_REQUIRE(d.at() == t0 + 3s);
    STATIC_REQUIRE(d.remaining(t0) == 3s);
    STATIC_REQUIRE(d.remaining(t0 + 1s) == 2s);
    STATIC_REQUIRE_FALSE(d.expired(t0 + 2999ms));
    STATIC_REQUIRE(d.expired(t0 + 3s));
    STATIC_REQUIRE(d.remaining(t0 + 5s) == 0s);
}

TEST_CASE("a deadline after a huge duration is no deadline rather than an overflow", "[time]") {
    constexpr deadline d = deadline::after(time_point{} + 10s, std::chrono::hours::max());
    STATIC_REQUIRE(d.is_none());
}

TEST_CASE("earliest picks the earlier deadline", "[time]") {
    constexpr deadline a(time_point{} + 1s), b(time_point{} + 2s);
    STATIC_REQUIRE(earliest(a, b) == a);
    STATIC_REQUIRE(earliest(b, a) == a);
    STATIC_REQUIRE(earliest(deadline::none(), b) == b);
}

TEST_CASE("system_time satisfies the time source concept and a zero sleep returns", "[time]") {
    STATIC_REQUIRE(failover::time_source<failover::system_time>);
    failover::system_time t;
    const time_point before = t.now();
    t.sleep_for(duration::zero());
    t.sleep_for(-5s);
    CHECK(t.now() >= before);
}

TEST_CASE("system_time sleeps for at least the time asked", "[time]") {
    failover::system_time t;
    const time_point before = t.now();
    t.sleep_for(2ms);
    CHECK(t.now() - before >= 2ms);
}

TEST_CASE("the manual clock moves only when told", "[time]") {
    STATIC_REQUIRE(failover::time_source<failover::testing::manual_clock>);
    failover::testing::manual_clock clock;
    const time_point t0 = clock.now();
    CHECK(clock.now() == t0);
    clock.advance(5s);
    CHECK(clock.now() == t0 + 5s);
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("sleeping on the manual clock advances it at once and is recorded", "[time]") {
    failover::testing::manual_clock clock(time_point{} + 100s);
    clock.sleep_for(250ms);
    clock.sleep_for(1s);
    clock.sleep_for(-3s);  // recorded as a zero sleep, time does not go back
    CHECK(clock.now() == time_point{} + 100s + 1250ms);
    CHECK(clock.sleeps() == 3);
    CHECK(clock.sleep_log() == std::vector<duration>{250ms, 1s, 0s});
    CHECK(clock.slept() == 1250ms);
}

TEST_CASE("the manual clock saturates instead of wrapping", "[time]") {
    failover::testing::manual_clock clock(time_point::max() - 1s);
    clock.advance(1h);
    CHECK(clock.now() == time_point::max());
}

TEST_CASE("a NaN duration converts to zero instead of undefined behaviour", "[time]") {
    const std::chrono::duration<double> nan_seconds(std::numeric_limits<double>::quiet_NaN());
    CHECK(detail::to_duration_sat(nan_seconds) == duration::zero());
    const deadline d = deadline::after(time_point{} + 1s, nan_seconds);
    CHECK(d.at() == time_point{} + 1s);
}
