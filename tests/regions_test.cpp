#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using failover::breaker_state;
using failover::duration;
using failover::fault;
using failover::verdict;
using failover::testing::manual_clock;

namespace {

// A region as a user would have it, plus what the simulated service does there.
struct region {
    std::string name;
    std::string api_key;
    verdict answer{};  // what this region answers now
};

constexpr verdict S{};
constexpr verdict down{.kind = fault::unavailable};

// A transport that answers as the chosen region is set to, and logs where each attempt went.
struct transport {
    std::vector<std::size_t> log;
    std::vector<bool> failovers;
    verdict operator()(const failover::attempt& a) {
        log.push_back(a.region_index());
        failovers.push_back(a.is_failover());
        return a.region<region>().answer;
    }
};

failover::retry_options quick_retry(unsigned attempts = 4) {
    return {.max_attempts = attempts, .backoff = failover::constant{100ms}, .jitter = failover::jitter::none};
}

std::string config_error_of(auto make) {
    try {
        make();
    } catch (const failover::config_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("by priority: a healthy primary takes every call") {
    std::vector<region> rs{{"eastus", "k1"}, {"westus", "k2"}};
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::regions{rs, failover::by_priority}).with_time(clock);
    transport t;
    for (int i = 0; i < 20; ++i) REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>(20, 0));
    CHECK(t.failovers == std::vector<bool>(20, false));
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("a region fault moves the next attempt to another region at once, with the right region object") {
    std::vector<region> rs{{"eastus", "k1", down}, {"westus", "k2"}};
    manual_clock clock;
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::regions{rs, failover::by_priority}).with_time(clock);
    std::vector<std::string> keys;
    auto r = p([&](const failover::attempt& a) {
        keys.push_back(a.region<region>().api_key);
        return a.region<region>().answer;
    });
    CHECK(r.ok());
    CHECK(keys == std::vector<std::string>{"k1", "k2"});
    CHECK(r.report().attempts == 2);
    CHECK(r.report().waited == 0s);  // no backoff: another region was ready
    CHECK(clock.sleeps() == 0);
}

TEST_CASE("a persistent fault opens the primary's breaker: calls go straight to the secondary, then fail back") {
    std::vector<region> rs{{"eastus", "k1", down}, {"westus", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 3, .open_for = 30s, .open_growth = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 3; ++i) REQUIRE(p(t).ok());  // each tries eastus first, then westus
    CHECK(sel.breaker(0).state() == breaker_state::open);
    t.log.clear();
    t.failovers.clear();
    for (int i = 0; i < 10; ++i) {
        auto r = p(t);
        REQUIRE(r.ok());
        CHECK(r.report().attempts == 1);  // the open primary costs no attempt
    }
    CHECK(t.log == std::vector<std::size_t>(10, 1));
    CHECK(t.failovers == std::vector<bool>(10, true));

    rs[0].answer = S;  // the primary heals
    clock.advance(30s);
    t.log.clear();
    REQUIRE(p(t).ok());  // the probe
    CHECK(sel.breaker(0).state() == breaker_state::closed);
    for (int i = 0; i < 5; ++i) REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>(6, 0));
}

TEST_CASE("a throttled region cools down for its Retry-After: spill-over at once, traffic back after it") {
    std::vector<region> rs{{"eastus", "k1", verdict{.kind = fault::throttled, .retry_after = 2s}}, {"westus", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    auto r = p(t);
    CHECK(r.ok());
    CHECK(r.report().waited == 0s);  // the 2 s were the primary's, not the call's
    CHECK(t.log == std::vector<std::size_t>{0, 1});
    CHECK(sel.snapshot(0, clock.now()).cooldown_left == 2s);
    CHECK(sel.breaker(0).state() == breaker_state::closed);  // throttling is not an outage
    rs[0].answer = S;
    t.log.clear();
    clock.advance(1s);
    REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>{1});  // still cooling down
    clock.advance(1s);
    REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>{1, 0});  // back on the primary
}

TEST_CASE("a throttle without a time cools down for the default; a huge one for at most max_cooldown") {
    std::vector<region> rs{{"eastus", "k1", verdict{.kind = fault::throttled}}, {"westus", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {}, {.max_cooldown = 1min, .default_cooldown = 3s}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    p(t);
    CHECK(sel.snapshot(0, clock.now()).cooldown_left == 3s);
    rs[1].answer = verdict{.kind = fault::throttled, .retry_after = 1h};
    clock.advance(3s);
    p(t);
    CHECK(sel.snapshot(1, clock.now()).cooldown_left == 1min);
}

TEST_CASE("every region down: a rejection at once, carrying the earliest time one comes back") {
    std::vector<region> rs{{"eastus", "k1", down}, {"westus", "k2", down}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 1, .open_for = 10s, .open_growth = 1}};
    auto alone = failover::pipeline(failover::ref(sel)).with_time(clock);
    transport t;
    alone(t);  // eastus opens
    clock.advance(3s);
    alone(t);  // westus opens, 3 s later
    const auto sent = t.log.size();
    auto r = alone(t);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::no_region_available);
    CHECK(r.rejection().retry_after(clock.now()) == 7s);  // eastus reopens first
    CHECK(r.report().attempts == 0);
    CHECK(t.log.size() == sent);  // no transport call
}

TEST_CASE("every region down under a retry: the retry waits for the first region back instead of spending attempts") {
    std::vector<region> rs{{"eastus", "k1", down}, {"westus", "k2", down}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 1, .open_for = 10s, .open_growth = 1}};
    auto alone = failover::pipeline(failover::ref(sel)).with_time(clock);
    transport t;
    alone(t);
    clock.advance(2s);
    alone(t);  // both open: eastus for 8 s more, westus for 10 s
    rs[0].answer = S;
    t.log.clear();
    auto p = failover::pipeline(failover::retry{quick_retry(3)}, failover::ref(sel)).with_time(clock);
    auto r = p(t);
    CHECK(r.ok());
    CHECK(t.log == std::vector<std::size_t>{0});  // the probe, once eastus's open time was over
    CHECK(r.report().attempts == 1);
    CHECK(r.report().waited == 8s);
}

TEST_CASE("when configured, all-down tries the region that comes back soonest") {
    std::vector<region> rs{{"eastus", "k1", down}, {"westus", "k2", down}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 1, .open_for = 10s, .open_growth = 1},
                          {.all_down = failover::when_all_down::try_least_bad}};
    auto p = failover::pipeline(failover::ref(sel)).with_time(clock);
    transport t;
    p(t);
    clock.advance(1s);
    p(t);  // both open now; eastus back first
    rs[0].answer = S;
    t.log.clear();
    CHECK(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>{0});
}

TEST_CASE("retry_in_region: a single fault is retried in place, a second one moves") {
    std::vector<region> rs{{"eastus", "k1", down}, {"westus", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {}, {.retry_in_region = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    auto r = p(t);
    CHECK(r.ok());
    CHECK(t.log == std::vector<std::size_t>{0, 0, 1});
    CHECK(r.report().waited == 100ms);  // the in-place retry backs off; the move does not
}

TEST_CASE("a rejected request stays where it is: the region is healthy, the request is wrong") {
    std::vector<region> rs{{"eastus", "k1", verdict{.kind = fault::rejected}}, {"westus", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    auto r = p(t);
    CHECK_FALSE(r.ok());
    CHECK(t.log == std::vector<std::size_t>{0});
    CHECK(sel.breaker(0).state() == breaker_state::closed);
}

TEST_CASE("a committed answer (no_retry) counts against the region but is neither retried nor re-routed") {
    std::vector<region> rs{{"eastus", "k1", verdict{.kind = fault::reset, .no_retry = true}}, {"westus", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    auto r = p(t);
    CHECK_FALSE(r.ok());
    CHECK(t.log == std::vector<std::size_t>{0});
    CHECK(sel.breaker(0).state() == breaker_state::open);
}

TEST_CASE("three regions in priority order: traffic cascades down and returns in order") {
    std::vector<region> rs{{"a", "k1"}, {"b", "k2"}, {"c", "k3"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 1, .open_for = 10s, .open_growth = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    auto last_region = [&] {
        t.log.clear();
        REQUIRE(p(t).ok());
        return t.log.back();
    };
    CHECK(last_region() == 0);
    rs[0].answer = down;
    CHECK(last_region() == 1);
    rs[1].answer = down;
    CHECK(last_region() == 2);
    CHECK(last_region() == 2);
    rs[1].answer = S;
    clock.advance(10s);  // both reopen for a probe; b was closer... a is still down
    CHECK(last_region() == 1);
    rs[0].answer = S;
    clock.advance(10s);
    CHECK(last_region() == 0);
}

TEST_CASE("weighted 9:1 lands within 2 % of 90/10, and moves entirely off a region that is down") {
    std::vector<region> rs{{"big", "k1"}, {"small", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::weighted{9, 1}, {.consecutive_failures = 1, .open_for = 1h, .max_open_for = 1h}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 10000; ++i) REQUIRE(p(t).ok());
    std::size_t big = 0;
    for (std::size_t i : t.log) big += i == 0;
    CHECK(big >= 8800);
    CHECK(big <= 9200);
    rs[1].answer = down;
    t.log.clear();
    for (int i = 0; i < 1000; ++i) REQUIRE(p(t).ok());
    std::size_t to_small = 0;
    for (std::size_t i : t.log) to_small += i == 1;
    CHECK(to_small == 1);  // its one failed attempt opened its breaker; then nothing
}

TEST_CASE("round robin alternates over the healthy regions") {
    std::vector<region> rs{{"a", "k1"}, {"b", "k2"}, {"c", "k3"}};
    manual_clock clock;
    failover::regions sel{rs, failover::round_robin, {.consecutive_failures = 1, .open_for = 1h, .max_open_for = 1h}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 30; ++i) REQUIRE(p(t).ok());
    std::size_t per[3] = {};
    for (std::size_t i : t.log) ++per[i];
    CHECK(per[0] == 10);
    CHECK(per[1] == 10);
    CHECK(per[2] == 10);
    rs[1].answer = down;
    t.log.clear();
    for (int i = 0; i < 30; ++i) REQUIRE(p(t).ok());
    std::size_t to_b = 0;
    for (std::size_t i : t.log) to_b += i == 1;
    CHECK(to_b == 1);  // its one failure opened its breaker
}

TEST_CASE("bad region configuration names what is wrong") {
    using Catch::Matchers::Contains;
    std::vector<region> none;
    std::vector<region> two{{"a", "k"}, {"b", "k"}};
    std::vector<region> many(65);
    CHECK_THAT(config_error_of([&] { failover::regions r{none, failover::by_priority}; }), Contains("1 to 64 regions"));
    CHECK_THAT(config_error_of([&] { failover::regions r{many, failover::by_priority}; }), Contains("1 to 64 regions"));
    CHECK_THAT(config_error_of([&] { failover::regions r{two, failover::weighted{1, 2, 3}}; }), Contains("one weight per region"));
    CHECK_THAT(config_error_of([&] { failover::regions r{two, failover::weighted{0, 0}}; }), Contains("at least one weight"));
    CHECK_THAT(config_error_of([&] { failover::regions r{two, failover::by_priority, {.open_for = 0s}}; }), Contains("open_for"));
    CHECK_THAT(config_error_of([&] {
                   failover::regions r{two, failover::by_priority, {}, {.max_cooldown = 1s, .default_cooldown = 2s}};
               }),
               Contains("default_cooldown"));
}

TEST_CASE("least latency: traffic goes to the fastest region, and stays within the tolerance band") {
    std::vector<region> rs{{"far", "k1"}, {"near", "k2"}, {"mid", "k3"}};
    manual_clock clock;
    failover::regions sel{rs, failover::least_latency{0.2, 5ms}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    duration latency[3] = {120ms, 40ms, 60ms};
    std::vector<std::size_t> log;
    auto t = [&](const failover::attempt& a) {
        log.push_back(a.region_index());
        clock.advance(latency[a.region_index()]);
        return S;
    };
    for (int i = 0; i < 50; ++i) REQUIRE(p(t).ok());
    std::size_t near = 0;
    for (std::size_t k = 10; k < log.size(); ++k) near += log[k] == 1;
    CHECK(near == log.size() - 10);  // after each region was measured once or so, all to "near"
    REQUIRE(sel.snapshot(1, clock.now()).latency.has_value());
    CHECK(*sel.snapshot(1, clock.now()).latency == 40ms);
    latency[1] = 44ms;  // within 20 %: no move
    for (int i = 0; i < 50; ++i) REQUIRE(p(t).ok());
    CHECK(log.back() == 1);
    latency[1] = 200ms;  // clearly slower now: traffic moves to "mid"
    log.clear();
    for (int i = 0; i < 50; ++i) REQUIRE(p(t).ok());
    CHECK(log.back() == 2);
}

TEST_CASE("priority groups: equal priorities share by weight, the next priority takes over when they are down") {
    std::vector<region> rs{{"a", "k1"}, {"b", "k2"}, {"backup", "k3"}};
    manual_clock clock;
    failover::regions sel{rs, failover::priority_groups{{0, 3}, {0, 1}, {1, 1}},
                          {.consecutive_failures = 1, .open_for = 1h, .max_open_for = 1h}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 4000; ++i) REQUIRE(p(t).ok());
    std::size_t per[3] = {};
    for (std::size_t i : t.log) ++per[i];
    CHECK(per[0] == 3000);
    CHECK(per[1] == 1000);
    CHECK(per[2] == 0);
    rs[0].answer = down;
    rs[1].answer = down;
    t.log.clear();
    for (int i = 0; i < 100; ++i) REQUIRE(p(t).ok());
    std::size_t to_backup = 0;
    for (std::size_t i : t.log) to_backup += i == 2;
    CHECK(to_backup == 100);
}

TEST_CASE("priority groups: a weight-0 region takes no call, even when every weighted region is down") {
    std::vector<region> rs{{"standby", "k1"}, {"only", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::priority_groups{{0, 0}, {0, 1}}, {.consecutive_failures = 1, .open_for = 1h, .max_open_for = 1h}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 10; ++i) REQUIRE(p(t).ok());
    rs[1].answer = down;
    for (int i = 0; i < 10; ++i) {
        auto r = p(t);
        CHECK_FALSE(r.ok());
    }
    CHECK(std::count(t.log.begin(), t.log.end(), std::size_t{0}) == 0);  // the standby was never called
    auto r = p(t);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::no_region_available);
}

TEST_CASE("priority groups read at run time from a range behave like the same groups written in code") {
    const std::vector<failover::priority_groups::group> from_file{{0, 3}, {0, 1}, {1, 1}};
    const failover::priority_groups read(from_file.begin(), from_file.end());
    REQUIRE(read.size() == 3);
    CHECK(read.weight(0) == 3);
    CHECK(read.weight(2) == 1);
    std::vector<region> rs{{"a", "k1"}, {"b", "k2"}, {"backup", "k3"}};
    manual_clock clock;
    failover::regions sel{rs, read, {.consecutive_failures = 1, .open_for = 1h, .max_open_for = 1h}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 400; ++i) REQUIRE(p(t).ok());
    std::size_t per[3] = {};
    for (std::size_t i : t.log) ++per[i];
    CHECK(per[0] == 300);
    CHECK(per[1] == 100);
    std::vector<failover::priority_groups::group> too_many(failover::max_regions + 1);
    CHECK_THROWS_WITH(failover::priority_groups(too_many.begin(), too_many.end()),
                      Catch::Contains("more entries than failover::max_regions"));
}

namespace {
// A user strategy: every call starts in the region named by a shard key kept by the test.
struct sharded {
    std::size_t* key;
    std::size_t first_choice(const failover::region_view& v) const { return *key % v.size(); }
};
}  // namespace

TEST_CASE("a user strategy picks the first region; the selector still skips unhealthy ones") {
    std::vector<region> rs{{"a", "k1"}, {"b", "k2"}, {"c", "k3"}};
    manual_clock clock;
    std::size_t key = 0;
    failover::regions sel{rs, sharded{&key}, {.consecutive_failures = 1, .open_for = 1h, .max_open_for = 1h}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (key = 0; key < 6; ++key) REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>{0, 1, 2, 0, 1, 2});
    rs[1].answer = down;
    t.log.clear();
    key = 1;
    REQUIRE(p(t).ok());
    REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>{1, 2, 2});  // b fails and opens; then straight on to c
}

TEST_CASE("review regressions: strategies fail back after the open time and after a cool-down") {
    std::vector<region> rs{{"a", "k1", down}, {"b", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::priority_groups{{0, 1}, {1, 1}}, {.consecutive_failures = 1, .open_for = 30s, .open_growth = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    REQUIRE(p(t).ok());  // a fails and opens
    rs[0].answer = S;
    clock.advance(31s);
    t.log.clear();
    for (int i = 0; i < 5; ++i) REQUIRE(p(t).ok());
    CHECK(t.log == std::vector<std::size_t>(5, 0));  // the probe, then back on a

    std::vector<region> ll{{"fast", "k1", verdict{.kind = fault::throttled, .retry_after = 2s}}, {"slow", "k2"}};
    failover::regions lat{ll, failover::least_latency{}};
    auto q = failover::pipeline(failover::retry{quick_retry()}, failover::ref(lat)).with_time(clock);
    transport u;
    REQUIRE(q(u).ok());  // fast throttles: cool-down
    ll[0].answer = S;
    clock.advance(1h);
    u.log.clear();
    for (int i = 0; i < 5; ++i) REQUIRE(q(u).ok());
    std::size_t to_fast = 0;
    for (std::size_t i : u.log) to_fast += i == 0;
    CHECK(to_fast >= 1);  // measured again once its cool-down was over
}

TEST_CASE("review regressions: no immediate re-route to a region that cannot take the call") {
    std::vector<region> rs{{"a", "k1", down}, {"b", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 100, .open_for = 1s}};
    sel.breaker(1).force_open(clock.now());
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    auto r = p(t);
    CHECK_FALSE(r.ok());
    CHECK(t.log == std::vector<std::size_t>(4, 0));
    CHECK(r.report().waited == 300ms);  // backed off each time: b could not serve
    CHECK(t.failovers == std::vector<bool>(4, false));
}

TEST_CASE("review regressions: a down region's share is spread in proportion, and selectors keep their own turns") {
    std::vector<region> rs{{"a", "k1"}, {"b", "k2"}, {"c", "k3"}};
    manual_clock clock;
    failover::regions w{rs, failover::weighted{1, 1, 1}};
    failover::regions rr{rs, failover::round_robin};
    w.breaker(0).force_open(clock.now());
    rr.breaker(1).force_open(clock.now());
    auto pw = failover::pipeline(failover::ref(w)).with_time(clock);
    auto pr = failover::pipeline(failover::ref(rr)).with_time(clock);
    transport tw, tr;
    for (int i = 0; i < 3000; ++i) {
        REQUIRE(pw(tw).ok());  // interleaved on one thread: each selector counts its own calls
        REQUIRE(pr(tr).ok());
    }
    std::size_t w_per[3] = {}, r_per[3] = {};
    for (std::size_t i : tw.log) ++w_per[i];
    for (std::size_t i : tr.log) ++r_per[i];
    CHECK(w_per[0] == 0);
    CHECK(w_per[1] == 1500);
    CHECK(w_per[2] == 1500);
    CHECK(r_per[1] == 0);
    CHECK(r_per[0] == 1500);
    CHECK(r_per[2] == 1500);
}

TEST_CASE("review regressions: a region of weight zero does not set the all-down retry time") {
    std::vector<region> rs{{"a", "k1", down}, {"spare", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::weighted{1, 0}, {.consecutive_failures = 1, .open_for = 30s, .open_growth = 1}};
    auto p = failover::pipeline(failover::ref(sel)).with_time(clock);
    transport t;
    p(t);  // a opens
    auto r = p(t);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().retry_after(clock.now()) == 30s);
}

TEST_CASE("review regressions: an in-place retry is no failover, with any strategy") {
    std::vector<region> rs{{"a", "k1", down}, {"b", "k2"}};
    manual_clock clock;
    failover::regions sel{rs, failover::round_robin, {}, {.retry_in_region = 1}};
    auto p = failover::pipeline(failover::retry{quick_retry()}, failover::ref(sel)).with_time(clock);
    transport t;
    for (int i = 0; i < 2; ++i) p(t);
    // The call that starts on a: a, a again (in place), then b.
    for (std::size_t k = 0; k + 1 < t.log.size(); ++k)
        if (t.log[k] == 0 && t.log[k + 1] == 0) CHECK_FALSE(t.failovers[k + 1]);
}

namespace {
struct counting_strategy {  // move-only: its thread-safe state is owned through a pointer
    std::unique_ptr<std::atomic<int>> calls = std::make_unique<std::atomic<int>>(0);
    std::size_t first_choice(const failover::region_view&) {
        calls->fetch_add(1);
        return 0;
    }
};
}  // namespace

TEST_CASE("review regressions: a move-only strategy with thread-safe state can be given by value") {
    std::vector<region> rs{{"a", "k1"}};
    manual_clock clock;
    failover::regions sel{rs, counting_strategy{}};
    auto p = failover::pipeline(failover::ref(sel)).with_time(clock);
    transport t;
    REQUIRE(p(t).ok());
    REQUIRE(p(t).ok());
    CHECK(t.log.size() == 2);
}
