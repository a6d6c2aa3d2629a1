// A circuit breaker in front of one endpoint, in virtual time: the endpoint goes down, the
// breaker opens and stops sending it traffic, probes it after the open time, and closes once
// it answers again. Every transition is printed as the listener sees it.
#include <failover/failover.hpp>
#include <failover/testing.hpp>  // manual_clock: this example runs in virtual time

#include <chrono>
#include <cstdio>
#include <system_error>

using namespace std::chrono_literals;

int main() {
    failover::testing::manual_clock clock;
    const auto t0 = clock.now();
    auto seconds = [&] { return std::chrono::duration<double>(clock.now() - t0).count(); };

    failover::circuit_breaker breaker{{.consecutive_failures = 3, .open_for = 10s, .open_growth = 2, .max_open_for = 60s}};
    auto log = [&](const failover::breaker_event& e) {
        std::printf("%6.1f s  %-9s -> %-9s  (%s; %u failures in a row)\n", seconds(), to_string(e.from), to_string(e.to),
                    to_string(e.why), e.snapshot.consecutive_failures);
    };
    breaker.on_transition(log);

    // One attempt per call here, so that every call shows what the breaker does with it.
    auto call = failover::pipeline(failover::ref(breaker)).with_time(clock);

    // The endpoint refuses connections from t = 5 s to t = 25 s.
    int sent = 0;
    auto endpoint = [&]() -> std::error_code {
        ++sent;
        const double t = seconds();
        return t >= 5 && t < 25 ? std::make_error_code(std::errc::connection_refused) : std::error_code{};
    };

    int ok = 0, failed = 0, rejected = 0;
    for (int i = 0; i < 80; ++i) {  // a call every 500 ms for 40 s
        auto r = call(endpoint);
        if (r.ok())
            ++ok;
        else if (r.is_rejection())
            ++rejected;
        else
            ++failed;
        clock.advance(500ms);
    }
    const auto s = breaker.snapshot(clock.now());
    std::printf("calls: %d ok, %d failed, %d rejected without reaching the endpoint; the endpoint saw %d\n", ok, failed,
                rejected, sent);
    std::printf("breaker: %s, %llu rejected in all\n", to_string(s.state), static_cast<unsigned long long>(s.rejected));
    // While it was down, the endpoint saw 3 failing calls and a few probes, not 40 calls.
    return s.state == failover::breaker_state::closed && ok + failed + rejected == 80 && failed < 10 ? 0 : 1;
}
