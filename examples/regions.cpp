// Two regions by priority, in virtual time: the primary goes down, calls move to the
// secondary at once, the primary's breaker opens, and traffic comes back when it heals.
#include <failover/failover.hpp>
#include <failover/testing.hpp>  // manual_clock: this example runs in virtual time

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

struct deployment {  // your own type: the library never copies or prints it
    std::string name;
    std::string endpoint;
    std::string api_key;
};

int main() {
    std::vector<deployment> deployments = {{"eastus", "https://a-eastus.example", "key-1"},
                                           {"swedencentral", "https://a-sweden.example", "key-2"}};
    failover::testing::manual_clock clock;
    const auto t0 = clock.now();

    failover::regions selector{deployments, failover::by_priority,
                               failover::circuit_breaker_options{.consecutive_failures = 3, .open_for = 10s}};
    auto call = failover::pipeline(failover::retry{{.max_attempts = 3}}, failover::ref(selector))
                    .with_time(clock)
                    .classify_with([](int status) { return failover::http::classify(status); });  // a bare status

    // eastus answers 503 from t = 10 s to t = 40 s.
    auto eastus_down = [&] {
        const auto t = clock.now() - t0;
        return t >= 10s && t < 40s;
    };
    int served[2] = {0, 0}, attempts = 0, ok = 0;
    for (int i = 0; i < 60; ++i) {  // a call per second for a minute
        auto r = call([&](const failover::attempt& a) {
            const deployment& d = a.region<deployment>();
            const bool fails = a.region_index() == 0 && eastus_down();
            if (!fails) ++served[a.region_index()];
            if (i % 5 == 0 || a.number() > 1 || (i > 10 && i < 45 && a.region_index() == 0))
                std::printf("t=%2d s  attempt %u -> %-13s%s%s\n", i, a.number(), d.name.c_str(), a.is_failover() ? " (failover)" : "",
                            fails ? " 503" : "");
            return fails ? 503 : 200;
        });
        attempts += static_cast<int>(r.report().attempts);
        ok += r.ok();
        clock.advance(1s);
    }
    std::printf("60 calls: %d ok, %d attempts; eastus served %d, swedencentral %d; eastus breaker %s\n", ok, attempts,
                served[0], served[1], to_string(selector.breaker(0).state()));
    return ok == 60 ? 0 : 1;
}
