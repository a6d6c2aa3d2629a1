// Failover between two Azure OpenAI regions with cpp-httplib as the HTTP client.
//
// The pipeline (retry, regions by priority with a breaker per region) knows nothing of HTTP;
// the transport lambda is the only place httplib appears. Every attempt is told which region
// to call, and the adapter (failover/adapters/httplib.hpp) turns what httplib returns into a
// verdict and the call's deadline into httplib's timeouts.
//
// So that it runs anywhere (and in ctest), the two regions are stand-ins on 127.0.0.1: the
// loopback fault server of the tests. Partway through, the primary starts answering 503; the
// calls move to the secondary at once, the primary's breaker opens, and once the primary is
// healthy again and its breaker's open time is over, a probe brings the calls back to it.
// Exit status 0 when every call succeeded and the regions served the calls expected.
//
// Build with cpp-httplib's own compile flags (pkg-config cpp-httplib): Debian's is a shared
// library whose class layouts depend on them.
#include <failover/adapters/httplib.hpp>
#include <failover/failover.hpp>

#include <fault_server.hpp>  // tests/support: the stand-in regions

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

struct region {  // your own type: the library hands it back to the transport, never reads it
    std::string name;
    std::string base_url;    // "https://my-eastus.openai.azure.com"
    std::string deployment;  // deployments have per-region names
    std::string api_key;     // per-region credentials
};

int main() {
    // Stand-ins for https://<resource>.openai.azure.com in two regions, each with its own key.
    loopback::fault_server server{{{.name = "eastus", .api_key = "key-eastus", .deployment = "gpt-4o-mini"},
                                   {.name = "swedencentral", .api_key = "key-sweden", .deployment = "gpt-4o-mini-se"}}};
    const std::vector<region> regions = {
        {"eastus", server.base_url(0), "gpt-4o-mini", "key-eastus"},
        {"swedencentral", server.base_url(1), "gpt-4o-mini-se", "key-sweden"},
    };

    // open_for is short so that the fail-back shows within a second; 30 s is a usual value.
    auto policy = failover::pipeline(
        failover::retry{{.max_attempts = 3, .backoff = failover::exponential{.initial = 20ms, .factor = 2, .cap = 1s}}},
        failover::regions{regions, failover::by_priority,
                          failover::circuit_breaker_options{.consecutive_failures = 3, .open_for = 300ms}});

    // One httplib::Client per region: a client holds one connection and its settings (host,
    // timeouts, keep-alive), and is meant to be used by one thread at a time; in a threaded
    // program give each thread its own set (thread_local, or one per worker). Reusing it keeps
    // the connection alive between calls. A deque: clients are neither copied nor moved.
    std::deque<httplib::Client> clients;
    for (const region& r : regions) {
        httplib::Client& c = clients.emplace_back(r.base_url);
        c.set_keep_alive(true);
    }

    const std::string body = R"({"messages":[{"role":"user","content":"Say hello"}],"max_tokens":20})";
    int served[2] = {0, 0};
    int ok = 0;
    const int calls = 16;
    for (int i = 1; i <= calls; ++i) {
        if (i == 5) server.set(0, loopback::behaviour::unavailable);  // eastus goes down
        if (i == 12) {                                                // eastus recovers
            server.set(0, loopback::behaviour::healthy);
            std::this_thread::sleep_for(350ms);  // past its breaker's open time
        }

        std::string route;
        auto r = policy(
            [&](const failover::attempt& a) {
                const region& reg = a.region<region>();
                httplib::Client& client = clients[a.region_index()];
                const std::string path = "/openai/deployments/" + reg.deployment + "/chat/completions?api-version=2024-10-21";
                const httplib::Headers headers{{"api-key", reg.api_key}};
                // Timeouts from the call's deadline (connect at most 2 s); timed, so that a read
                // timeout and a reset are told apart (httplib says Error::Read for both).
                failover::cpp_httplib::timed_result t = failover::cpp_httplib::send(
                    client, a, [&](httplib::Client& c) { return c.Post(path, headers, body, "application/json"); },
                    {.connect = 2s});
                route += (route.empty() ? "" : " -> ") + reg.name + " " +
                         (t.result ? std::to_string(t.result->status) : httplib::to_string(t.result.error()));
                if (a.is_failover()) route += " (failover)";
                if (t.result && t.result->status == 200) ++served[a.region_index()];
                return t;
            },
            10s);  // the whole call, retries and waits included

        if (r.ok()) ++ok;
        std::printf("call %2d: %s%s\n", i, route.c_str(), r.ok() ? "" : "  FAILED");
    }

    std::printf("%d of %d calls succeeded; eastus served %d, swedencentral %d; eastus breaker %s\n", ok, calls,
                served[0], served[1], failover::to_string(policy.get<1>().breaker(0).state()));
    // eastus serves calls 1-4 and, after its probe, 12-16; swedencentral the 7 in between.
    const bool as_expected = ok == calls && served[0] == 9 && served[1] == 7 &&
                             server.stats(0).unauthorized == 0 && server.stats(1).unauthorized == 0;
    return as_expected ? 0 : 1;
}
