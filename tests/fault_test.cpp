#include <failover/fault.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string_view>

using namespace std::chrono_literals;
using failover::fault;
using failover::fault_set;
using failover::verdict;

TEST_CASE("every fault has a distinct name", "[fault]") {
    const fault all[] = {fault::none, fault::timeout, fault::connection, fault::reset,
                         fault::unavailable, fault::throttled, fault::rejected};
    const std::string_view names[] = {"none", "timeout", "connection", "reset", "unavailable", "throttled", "rejected"};
    STATIC_REQUIRE(sizeof(all) / sizeof(all[0]) == failover::fault_count);
    for (unsigned i = 0; i < failover::fault_count; ++i) CHECK(std::string_view(to_string(all[i])) == names[i]);
}

TEST_CASE("a fault_set holds exactly what was put in it", "[fault]") {
    constexpr fault_set s{fault::timeout, fault::reset};
    STATIC_REQUIRE(s.contains(fault::timeout));
    STATIC_REQUIRE(s.contains(fault::reset));
    STATIC_REQUIRE_FALSE(s.contains(fault::none));
    STATIC_REQUIRE_FALSE(s.contains(fault::connection));
    STATIC_REQUIRE(s.size() == 2);
    STATIC_REQUIRE(fault_set{}.empty());
    STATIC_REQUIRE(fault_set::all().size() == failover::fault_count);
}

TEST_CASE("fault_set operations work in constant expressions", "[fault]") {
    constexpr fault_set a = fault::timeout | fault::reset;
    constexpr fault_set b = a | fault::throttled;
    STATIC_REQUIRE(b.size() == 3);
    STATIC_REQUIRE((b & a) == a);
    STATIC_REQUIRE((b - a) == fault_set{fault::throttled});
    constexpr fault_set c = [] {
        fault_set s = failover::transient_faults;
        s.erase(fault::throttled).insert(fault::rejected);
        return s;
    }();
    STATIC_REQUIRE(c.contains(fault::rejected));
    STATIC_REQUIRE_FALSE(c.contains(fault::throttled));
    STATIC_REQUIRE(c.size() == 5);
}

TEST_CASE("the default fault sets are the documented ones", "[fault]") {
    STATIC_REQUIRE(failover::transient_faults ==
                   fault_set{fault::timeout, fault::connection, fault::reset, fault::unavailable, fault::throttled});
    STATIC_REQUIRE(failover::region_faults ==
                   fault_set{fault::timeout, fault::connection, fault::reset, fault::unavailable});
    STATIC_REQUIRE_FALSE(failover::transient_faults.contains(fault::rejected));
    STATIC_REQUIRE_FALSE(failover::region_faults.contains(fault::throttled));
}

TEST_CASE("a verdict is retryable only for a listed fault without the no-retry flag", "[fault]") {
    STATIC_REQUIRE_FALSE(verdict{}.retryable());
    STATIC_REQUIRE(verdict{.kind = fault::unavailable}.retryable());
    STATIC_REQUIRE(verdict{.kind = fault::throttled, .retry_after = 2s}.retryable());
    STATIC_REQUIRE_FALSE(verdict{.kind = fault::rejected}.retryable());
    STATIC_REQUIRE_FALSE(verdict{.kind = fault::unavailable, .no_retry = true}.retryable());
    STATIC_REQUIRE_FALSE(verdict{.kind = fault::throttled}.retryable(fault_set{fault::timeout}));
    // A custom set may even make `rejected` retryable, but never `none`.
    STATIC_REQUIRE(verdict{.kind = fault::rejected}.retryable(fault_set::all()));
    STATIC_REQUIRE_FALSE(verdict{}.retryable(fault_set::all()));
}

TEST_CASE("a verdict keeps a sub-millisecond server delay exactly", "[fault]") {
    constexpr verdict v{.kind = fault::throttled, .retry_after = 1500us};
    STATIC_REQUIRE(v.retry_after == 1'500'000ns);
    STATIC_REQUIRE(v.failed());
    STATIC_REQUIRE(failover::success.ok());
    STATIC_REQUIRE(verdict{.kind = fault::timeout} != verdict{.kind = fault::reset});
}
