// Outage scenarios in virtual time, on the region simulator of failover/testing.hpp. Each one
// asserts its figures; together they write the table printed by the README test command
// (scenarios.txt in the test's working directory).
#include <failover/failover.hpp>
#include <failover/testing.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using failover::duration;
using failover::testing::sim_behaviour;
using failover::testing::sim_options;
using failover::testing::sim_phase;
using failover::testing::sim_region;
using failover::testing::sim_report;
using failover::testing::simulate;

namespace {

double ms(duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
std::string opt_ms(const std::optional<duration>& d) {
    if (!d) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f ms", ms(*d));
    return buf;
}

// Appends one row to the table file, with a header when the file is new. ctest runs each
// scenario in a process of its own, possibly in parallel: the README test command deletes the
// file first, then prints it sorted.
void table_row(const char* name, const sim_report& r) {
    std::FILE* probe = std::fopen("scenarios.txt", "r");
    const bool fresh = probe == nullptr;
    if (probe != nullptr) std::fclose(probe);
    std::FILE* f = std::fopen("scenarios.txt", "a");
    if (f == nullptr) return;
    if (fresh)
        std::fprintf(f, "%-34s %7s %9s %9s %10s %10s %10s %8s %9s\n", "scenario", "calls", "success", "in outage",
                     "att/call*", "failover", "failback", "switches", "waited");
    char share[16], window[16], per_call[16];
    std::snprintf(share, sizeof share, "%.3f%%", 100.0 * r.success_share());
    std::snprintf(window, sizeof window, "%.3f%%", 100.0 * r.window_success_share());
    std::snprintf(per_call, sizeof per_call, "%.3f", r.attempts_per_call_after_detection());
    std::fprintf(f, "%-34s %7llu %9s %9s %10s %10s %10s %8llu %7.0fms\n", name, static_cast<unsigned long long>(r.calls), share,
                 window, per_call, opt_ms(r.time_to_failover).c_str(), opt_ms(r.time_to_failback).c_str(),
                 static_cast<unsigned long long>(r.switches), ms(r.waited));
    std::fclose(f);
}

failover::retry_options steady_retry() {
    return {.max_attempts = 4, .backoff = failover::exponential{.initial = 200ms, .factor = 2, .cap = 2s}, .jitter = failover::jitter::none};
}

}  // namespace

TEST_CASE("scenario 1: primary hard down (503) for 60 s: callers barely notice, traffic returns after the probe") {
    std::vector<sim_region> rs{{.name = "primary", .phases = {{.from = 30s, .to = 90s, .behaviour = sim_behaviour::unavailable}}},
                               {.name = "secondary"}};
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 5, .open_for = 30s, .open_growth = 1}};
    const sim_report r = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); },
        sim_options{.run_for = 150s}, 30s, 90s);
    table_row("1 primary down (503) 60 s", r);
    CHECK(r.window_success_share() >= 0.999);
    CHECK(r.success_share() >= 0.999);
    REQUIRE(r.time_to_failover);
    CHECK(*r.time_to_failover <= 5 * 10ms);  // the 5 failures of the breaker's threshold
    CHECK(r.attempts_per_call_after_detection() <= 1.02);
    REQUIRE(r.time_to_failback);
    CHECK(*r.time_to_failback <= 30s + 10ms);  // open time + one probe
    CHECK(r.waited == 0s);                     // every move went at once
}

TEST_CASE("scenario 2: primary stalls for 60 s: the added latency is one attempt timeout at most, ~0 once detected") {
    std::vector<sim_region> rs{{.name = "primary", .phases = {{.from = 30s, .to = 90s, .behaviour = sim_behaviour::stall}}},
                               {.name = "secondary"}};
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 5, .open_for = 30s, .open_growth = 1}};
    const sim_options o{.run_for = 150s, .attempt_timeout = 2s};
    const sim_report r = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); }, o, 30s,
        90s);
    table_row("2 primary stalls 60 s", r);
    CHECK(r.window_success_share() >= 0.999);
    CHECK(r.max_added_in_window <= o.attempt_timeout + 50ms);
    CHECK(r.attempts_per_call_after_detection() <= 1.02);
    REQUIRE(r.time_to_failback);
    CHECK(*r.time_to_failback <= 30s + o.attempt_timeout);
}

TEST_CASE("scenario 3: primary throttles with retry-after-ms 2000: spill-over with no wait, the primary back after 2 s") {
    std::vector<sim_region> rs{
        {.name = "primary", .phases = {{.from = 30s, .to = 90s, .behaviour = sim_behaviour::throttle, .retry_after = 2s}}},
        {.name = "secondary"}};
    failover::regions sel{rs, failover::by_priority};
    const sim_report r = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); },
        sim_options{.run_for = 120s}, 30s, 90s);
    table_row("3 primary throttles (2 s) 60 s", r);
    CHECK(r.success_share() == 1.0);
    CHECK(r.waited == 0s);
    CHECK(sel.breaker(0).state() == failover::breaker_state::closed);  // throttling is no outage
    REQUIRE(r.time_to_failback);
    CHECK(*r.time_to_failback <= 2s + 10ms);
    // While throttling, the primary is asked once per cool-down, not once per call.
    CHECK(rs[0].attempts <= 30 * 100 + 60 / 2 + 2 + 30 * 100);
}

TEST_CASE("scenario 4: an intermittent primary (40 % failures): growing open times keep switches few") {
    auto run = [](double growth) {
        std::vector<sim_region> rs{
            {.name = "primary", .phases = {{.from = 0s, .to = 600s, .behaviour = sim_behaviour::intermittent, .failure_rate = 0.4}}},
            {.name = "secondary"}};
        failover::regions sel{rs, failover::by_priority,
                              {.consecutive_failures = 5,
                               .open_for = 10s,
                               .open_growth = growth,
                               .max_open_for = 5min,
                               .reset_growth_after = growth > 1.0 ? 10min : 0s}};
        return simulate(
            rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); },
            sim_options{.run_for = 600s, .interval = 100ms, .seed = 7});
    };
    const sim_report fixed = run(1.0);
    const sim_report growing = run(2.0);
    table_row("4 intermittent 40%, fixed open", fixed);
    table_row("4 intermittent 40%, growing open", growing);
    CHECK(growing.success_share() >= 0.999);
    CHECK(growing.switches < fixed.switches);
    CHECK(growing.switches <= 20);
    CHECK(fixed.switches >= 2 * growing.switches);
}

TEST_CASE("scenario 5: every region down for 30 s: rejections at once with a retry time, probes only, full recovery") {
    std::vector<sim_region> rs{{.name = "a", .phases = {{.from = 30s, .to = 60s, .behaviour = sim_behaviour::unavailable}}},
                               {.name = "b", .phases = {{.from = 30s, .to = 60s, .behaviour = sim_behaviour::unavailable}}}};
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 5, .open_for = 5s, .open_growth = 1}};
    failover::retry_options ro = steady_retry();
    ro.max_retry_after = 1s;  // a caller who will not wait for a region to reopen
    const sim_report r = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{ro}, failover::ref(sel)).with_time(t); },
        sim_options{.run_for = 90s}, 30s, 60s);
    table_row("5 all regions down 30 s", r);
    CHECK(r.rejected > 2500);                 // nearly every call of the outage
    CHECK(r.max_rejection_time < 1ms);        // refused at once once both are open
    CHECK(r.window_attempts <= 200);          // detection plus probes, not 3000 calls' worth
    CHECK(r.ok == r.calls - r.rejected - r.failed);
    REQUIRE(r.time_to_failback);
    CHECK(*r.time_to_failback <= 5s + 10ms);
}

TEST_CASE("scenario 6: weighted 9:1 holds its split, and moves wholly off a region that is down") {
    std::vector<sim_region> rs{{.name = "big"},
                               {.name = "small", .phases = {{.from = 100s, .to = 200s, .behaviour = sim_behaviour::refuse}}}};
    failover::regions sel{rs, failover::weighted{9, 1}, {.consecutive_failures = 3, .open_for = 1h, .max_open_for = 1h}};
    const sim_report r = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); },
        sim_options{.run_for = 100s});
    table_row("6 weighted 9:1 (10 000 calls)", r);
    const double big = static_cast<double>(rs[0].served) / static_cast<double>(rs[0].served + rs[1].served);
    CHECK(r.calls == 10000);
    CHECK(big >= 0.88);
    CHECK(big <= 0.92);
    // The small region refuses from t = 100 s: after its breaker opens, nothing reaches it.
    const std::uint64_t small_before = rs[1].attempts;
    const sim_report down = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); },
        sim_options{.run_for = 200s}, 100s, 200s);
    CHECK(down.window_success_share() == 1.0);
    CHECK(rs[1].attempts - small_before <= 9000 + 3);  // its 10 % of the first 100 s, then its 3 failures
}

TEST_CASE("scenario 7: three regions by priority, the first two down in turn: traffic cascades and returns in order") {
    std::vector<sim_region> rs{{.name = "a", .phases = {{.from = 20s, .to = 80s, .behaviour = sim_behaviour::unavailable}}},
                               {.name = "b", .phases = {{.from = 40s, .to = 60s, .behaviour = sim_behaviour::refuse}}},
                               {.name = "c"}};
    failover::regions sel{rs, failover::by_priority, {.consecutive_failures = 3, .open_for = 5s, .open_growth = 1}};
    const sim_report r = simulate(
        rs, [&](auto& t) { return failover::pipeline(failover::retry{steady_retry()}, failover::ref(sel)).with_time(t); },
        sim_options{.run_for = 100s}, 20s, 80s);
    table_row("7 cascade a -> b -> c -> b -> a", r);
    CHECK(r.success_share() >= 0.999);
    CHECK(rs[2].served > 1000);  // c carried 40 s..60 s
    REQUIRE(r.time_to_failback);
    CHECK(*r.time_to_failback <= 5s + 10ms);
    CHECK(rs[1].served > 1500);  // b carried 20 s..40 s and 60 s..80 s
}
