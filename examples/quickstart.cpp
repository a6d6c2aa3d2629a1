// The library around your own HTTP client, in one file: teach it your response type once,
// wrap the call in a pipeline, read the verdict and the report.
#include <failover/failover.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace app {

// Whatever your HTTP client returns (libcurl, cpp-httplib, Beast, ...).
struct http_response {
    std::error_code transport_error;  // refused, reset, timed out: no HTTP answer at all
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// Found by ADL: every attempt is classified once, here.
failover::verdict failover_classify(const http_response& r) {
    if (r.transport_error) return failover::classify(r.transport_error);
    return failover::http::classify(r.status, r.headers);  // 429/503 + Retry-After, x-should-retry
}

// Stands in for the network: throttled, then refused, then a success.
struct simulated_service {
    int requests = 0;
    http_response post(const std::string& body) {
        (void)body;
        switch (++requests) {
            case 1: return {{}, 429, {{"Retry-After-Ms", "1500"}}, R"({"error":{"code":"429"}})"};
            case 2: return {std::make_error_code(std::errc::connection_refused), 0, {}, {}};
            default: return {{}, 200, {{"content-type", "application/json"}}, R"({"choices":[]})"};
        }
    }
};

}  // namespace app

int main() {
    using namespace std::chrono;
    app::simulated_service service;
    auto policy = failover::pipeline();  // the policies (retry, breakers, regions) go here

    const failover::fault expected[] = {failover::fault::throttled, failover::fault::connection, failover::fault::none};
    bool as_expected = true;
    for (failover::fault want : expected) {
        failover::result<app::http_response> r = policy(
            [&](const failover::attempt& a) {
                // a.deadline() / a.time_left() go to the client's own timeouts.
                (void)a;
                return service.post(R"({"messages":[{"role":"user","content":"hi"}]})");
            },
            30s);
        const failover::verdict& v = r.verdict();
        std::printf("status %3d  fault %-10s  retry after %5lld ms  attempts %u\n", r->status,
                    failover::to_string(v.kind),
                    v.retry_after ? static_cast<long long>(duration_cast<milliseconds>(*v.retry_after).count()) : -1LL,
                    r.report().attempts);
        as_expected = as_expected && v.kind == want;
    }
    return as_expected ? 0 : 1;
}
