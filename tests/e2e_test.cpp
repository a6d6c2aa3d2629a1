// End to end: the real libcurl client, wrapped by the library, against the loopback fault
// server's regions on 127.0.0.1. Real sockets and real time (short timeouts), so the figures
// these tests check are counts and orders, never durations beyond generous bounds.
#include "fault_server.hpp"

#include <failover/adapters/curl.hpp>
#include <failover/failover.hpp>

#include <catch2/catch.hpp>
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// The user's own region type: endpoint and credentials.
struct region {
    std::string name;
    std::string url;
    std::string key;
};

// One libcurl easy handle per thread, reused across calls (connections are kept alive).
struct client {
    CURL* handle = curl_easy_init();
    std::string body;
    std::chrono::milliseconds attempt_timeout{300};
    client() {
        REQUIRE(handle != nullptr);
        curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &client::collect);
        curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS, R"({"messages":[{"role":"user","content":"hi"}]})");
        curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");  // loopback only, whatever http_proxy says
    }
    ~client() { curl_easy_cleanup(handle); }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    static std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
        static_cast<std::string*>(user)->append(data, size * n);
        return size * n;
    }

    // The transport: a chat completion to the attempt's region with that region's key.
    failover::curl::transfer post(const failover::attempt& a) {
        const region& r = a.region<region>();
        body.clear();
        curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
        headers = curl_slist_append(headers, ("api-key: " + r.key).c_str());
        curl_easy_setopt(handle, CURLOPT_URL, r.url.c_str());
        curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
        failover::curl::apply_deadline(handle, a, {.total = attempt_timeout});
        const CURLcode code = curl_easy_perform(handle);
        curl_slist_free_all(headers);
        return failover::curl::finish(handle, code);
    }
};

// libcurl's global set-up, once, before any thread starts.
[[maybe_unused]] const bool curl_ready = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
}();

struct two_regions {
    loopback::fault_server server{{{"eastus", "key-east", "gpt-4o-mini"}, {"swedencentral", "key-sweden", "gpt-4o-mini"}}};
    std::vector<region> regions{{"eastus", server.chat_url(0), "key-east"}, {"swedencentral", server.chat_url(1), "key-sweden"}};
};

// The server counts an answer once its last byte is sent, which the client may see first.
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 2000ms) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

failover::retry quick_retry(unsigned attempts = 4) {
    return failover::retry{{.max_attempts = attempts,
                            .backoff = failover::constant{.delay = 5ms},
                            .jitter = failover::jitter::none}};
}

}  // namespace

TEST_CASE("a healthy primary takes every call, with its own key", "[e2e]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    for (int i = 0; i < 20; ++i) {
        auto r = call([&](const failover::attempt& a) { return c.post(a); }, 2s);
        REQUIRE(r.ok());
        CHECK(r->status == 200);
        CHECK(c.body.find("eastus") != std::string::npos);
    }
    CHECK(eventually([&] { return env.server.stats(0).answered_ok == 20; }));
    CHECK(env.server.stats(1).requests == 0);
    CHECK(env.server.stats(0).unauthorized == 0);
}

TEST_CASE("a primary that goes down mid-run: calls keep succeeding on the secondary with its credentials", "[e2e]") {
    const auto outage = GENERATE(loopback::behaviour::unavailable, loopback::behaviour::refuse, loopback::behaviour::stall,
                                 loopback::behaviour::reset, loopback::behaviour::server_error);
    INFO("primary: " << loopback::to_string(outage));
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority,
                               failover::circuit_breaker_options{.consecutive_failures = 3, .open_for = 30s}};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    c.attempt_timeout = 200ms;  // a stall becomes a timeout after 200 ms
    std::map<std::size_t, int> served;
    int failovers = 0, primary_failures = 0;
    auto one = [&] {
        std::size_t last = 99;
        bool moved = false;
        auto r = call(
            [&](const failover::attempt& a) {
                last = a.region_index();
                moved = moved || a.is_failover();
                auto t = c.post(a);
                primary_failures += a.region_index() == 0 && failover::curl::classify(t).failed();
                return t;
            },
            3s);
        REQUIRE(r.ok());
        ++served[last];
        failovers += moved;
    };
    for (int i = 0; i < 10; ++i) one();
    CHECK(served[0] == 10);
    env.server.set(0, loopback::fault{.kind = outage, .delay = 5s});
    for (int i = 0; i < 30; ++i) one();
    CHECK(served[1] == 30);  // every call during the outage answered by the secondary
    CHECK(selector.breaker(0).state() == failover::breaker_state::open);
    CHECK(failovers == 30);  // each call of the outage started in the primary or skipped it because it was open
    CHECK(primary_failures == 3);  // three calls paid a failed attempt in the primary, then its breaker opened
    CHECK(eventually([&] { return env.server.stats(1).answered_ok == 30; }));
    CHECK(env.server.stats(1).unauthorized == 0);  // the secondary got the secondary's key
    // 10 served + 3 failed, none after the breaker opened. A reset on a reused keep-alive
    // connection is retried once by libcurl itself on a fresh connection, inside one attempt.
    if (outage == loopback::behaviour::reset) CHECK(env.server.stats(0).requests >= 13);
    if (outage == loopback::behaviour::reset) CHECK(env.server.stats(0).requests <= 14);
    if (outage != loopback::behaviour::refuse && outage != loopback::behaviour::reset) CHECK(env.server.stats(0).requests == 13);
}

TEST_CASE("traffic fails back to the primary once it heals and its probe succeeds", "[e2e]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority,
                               failover::circuit_breaker_options{.consecutive_failures = 2, .open_for = 150ms, .open_growth = 1}};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    auto served_by = [&] {
        std::size_t last = 99;
        auto r = call(
            [&](const failover::attempt& a) {
                last = a.region_index();
                return c.post(a);
            },
            3s);
        REQUIRE(r.ok());
        return last;
    };
    env.server.set(0, loopback::behaviour::unavailable);
    for (int i = 0; i < 5; ++i) served_by();
    REQUIRE(selector.breaker(0).state() == failover::breaker_state::open);
    env.server.set(0, loopback::behaviour::healthy);
    const auto healed = std::chrono::steady_clock::now();
    std::size_t region = 1;
    while (region != 0 && std::chrono::steady_clock::now() - healed < 5s) {
        region = served_by();
        std::this_thread::sleep_for(10ms);  // steady traffic, not a busy loop: the open time runs in real time
    }
    CHECK(region == 0);
    CHECK(std::chrono::steady_clock::now() - healed < 2s);  // 150 ms open, then the first call probes
    CHECK(selector.breaker(0).state() == failover::breaker_state::closed);
    for (int i = 0; i < 10; ++i) CHECK(served_by() == 0);
}

TEST_CASE("a 429 with retry-after-ms spills calls over to the secondary at once, and the primary is left alone until then", "[e2e]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    env.server.set(0, loopback::fault{.kind = loopback::behaviour::throttled, .retry_after = 400ms});
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        auto r = call([&](const failover::attempt& a) { return c.post(a); }, 3s);
        REQUIRE(r.ok());
        CHECK(r.report().waited == failover::duration::zero());  // spilled over, never slept
    }
    const bool within_window = std::chrono::steady_clock::now() - start < 350ms;
    CHECK(eventually([&] { return env.server.stats(1).answered_ok == 20; }));
    if (within_window) CHECK(env.server.stats(0).requests == 1);  // one 429, then the cool-down
    if (within_window) CHECK(selector.snapshot(0).cooldown_left > failover::duration::zero());
}

TEST_CASE("with every region down the call is rejected at once with the time a region comes back", "[e2e]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority,
                               failover::circuit_breaker_options{.consecutive_failures = 1, .open_for = 20s}};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    env.server.set(0, loopback::behaviour::unavailable);
    env.server.set(1, loopback::behaviour::unavailable);
    auto first = call([&](const failover::attempt& a) { return c.post(a); }, 3s);
    CHECK_FALSE(first.ok());
    const auto before = failover::clock::now();
    auto r = call([&](const failover::attempt& a) { return c.post(a); }, 3s);
    REQUIRE(r.is_rejection());
    CHECK(r.rejection().reason == failover::rejection_reason::no_region_available);
    REQUIRE(r.rejection().retry_at.has_value());
    const auto wait = r.rejection().retry_after(before);
    REQUIRE(wait.has_value());
    CHECK(*wait > 15s);
    CHECK(*wait <= 20s);
    CHECK(r.report().attempts == 0);
    CHECK(env.server.stats(0).requests + env.server.stats(1).requests == 2);  // one each, before their breakers opened
}

TEST_CASE("a single connection reset is retried in place when retry_in_region allows it", "[e2e]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority, failover::circuit_breaker_options{},
                               failover::regions_options{.retry_in_region = 1}};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    env.server.set(0, loopback::behaviour::reset);
    std::vector<std::pair<unsigned, std::size_t>> attempts;
    std::vector<failover::fault> faults;
    auto r = call(
        [&](const failover::attempt& a) {
            attempts.emplace_back(a.number(), a.region_index());
            auto t = c.post(a);
            faults.push_back(failover::curl::classify(t).kind);
            env.server.set(0, loopback::behaviour::healthy);  // the fault was a single one
            return t;
        },
        3s);
    REQUIRE(r.ok());
    CHECK(attempts == std::vector<std::pair<unsigned, std::size_t>>{{1, 0}, {2, 0}});
    CHECK(faults == std::vector<failover::fault>{failover::fault::reset, failover::fault::none});
    CHECK(env.server.stats(1).requests == 0);
}

namespace {
// A streamed chat completion: chunks go to the caller as they arrive, and the end is watched.
struct stream_sink {
    CURL* handle;
    std::string shown{};  // what the caller has been given
    failover::http::event_stream_end end{};
    bool delivered = false;
};

std::size_t on_stream_body(char* data, std::size_t size, std::size_t count, void* user) {
    stream_sink& s = *static_cast<stream_sink*>(user);
    const std::string_view chunk(data, size * count);
    long status = 0;
    curl_easy_getinfo(s.handle, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status <= 299) {
        s.end.feed(chunk);
        s.shown.append(chunk);
        s.delivered = true;
    }
    return chunk.size();
}
}  // namespace

TEST_CASE("a stream cut before its DONE event after reaching the caller is a failure, and it is not replayed elsewhere", "[e2e][stream]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    client c;
    auto stream_once = [&](stream_sink& sink) {
        return call(
            [&](const failover::attempt& a) {
                const region& r = a.region<region>();
                sink.end.reset();
                curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
                headers = curl_slist_append(headers, ("api-key: " + r.key).c_str());
                curl_easy_setopt(c.handle, CURLOPT_URL, r.url.c_str());
                curl_easy_setopt(c.handle, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(c.handle, CURLOPT_POSTFIELDS, R"({"stream":true,"messages":[{"role":"user","content":"hi"}]})");
                curl_easy_setopt(c.handle, CURLOPT_WRITEFUNCTION, on_stream_body);
                curl_easy_setopt(c.handle, CURLOPT_WRITEDATA, &sink);
                failover::curl::apply_deadline(c.handle, a);
                failover::curl::transfer t = failover::curl::finish(c.handle, curl_easy_perform(c.handle));
                curl_slist_free_all(headers);
                t.delivered = sink.delivered;
                t.truncated = !sink.end.done();
                return t;
            },
            3s);
    };
    SECTION("a whole stream succeeds") {
        stream_sink sink{c.handle, {}, {}, false};
        auto r = stream_once(sink);
        REQUIRE(r.ok());
        CHECK(sink.end.done());
        CHECK(r.report().attempts == 1);
    }
    SECTION("a cut stream fails once, and the backup is never asked") {
        env.server.set(0, loopback::behaviour::stream_cut);
        stream_sink sink{c.handle, {}, {}, false};
        auto r = stream_once(sink);
        REQUIRE(r.has_value());
        CHECK_FALSE(r.ok());
        CHECK(r->code == CURLE_OK);  // libcurl saw a clean end: only the missing [DONE] tells
        CHECK(r.verdict().kind == failover::fault::reset);
        CHECK(r.verdict().no_retry);
        CHECK(r.report().attempts == 1);
        CHECK_FALSE(sink.end.done());
        CHECK(sink.shown.find("data: ") != std::string::npos);
        CHECK(env.server.stats(1).requests == 0);  // the partial answer was not replayed in another region
    }
    SECTION("an error answer before any chunk fails over like any call") {
        env.server.set(0, loopback::behaviour::unavailable);
        stream_sink sink{c.handle, {}, {}, false};
        auto r = stream_once(sink);
        REQUIRE(r.ok());
        CHECK(r.report().attempts == 2);
        CHECK(sink.end.done());
        CHECK(eventually([&] { return env.server.stats(1).answered_ok == 1; }));
    }
}

TEST_CASE("8 threads during a scripted outage: every call ends, every failure is explained, the counts add up", "[e2e][concurrency]") {
    two_regions env;
    failover::regions selector{env.regions, failover::by_priority,
                               failover::circuit_breaker_options{.consecutive_failures = 3, .open_for = 100ms, .open_growth = 1}};
    auto call = failover::pipeline(quick_retry(), failover::ref(selector));
    constexpr int threads = 8;
    constexpr int calls_per_thread = 2500;
    // primary: 503, then refused, then stalls, then healthy; secondary: a 429 burst
    env.server.play({{150ms, 0, {loopback::behaviour::unavailable}},
                     {500ms, 0, {loopback::behaviour::refuse}},
                     {900ms, 0, {loopback::behaviour::stall, 0ms, 2s}},
                     {1300ms, 1, {loopback::behaviour::throttled, 50ms}},
                     {1400ms, 1, {loopback::behaviour::healthy}},
                     {1700ms, 0, {loopback::behaviour::healthy}}});
    std::atomic<long> ok{0}, rejected{0}, failed{0};
    std::atomic<long> answered[2] = {0, 0};   // attempts the client got a 200 for, by region
    std::atomic<long> timed_out[2] = {0, 0};  // attempts the client gave up on, by region
    std::mutex m;
    std::map<std::string, long> why;
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            client c;
            c.attempt_timeout = 150ms;
            for (int i = 0; i < calls_per_thread; ++i) {
                auto r = call(
                    [&](const failover::attempt& a) {
                        auto t = c.post(a);
                        const failover::fault f = failover::curl::classify(t).kind;
                        if (f == failover::fault::none) ++answered[a.region_index()];
                        if (f == failover::fault::timeout) ++timed_out[a.region_index()];
                        return t;
                    },
                    2s);
                if (r.ok()) {
                    ++ok;
                    continue;
                }
                std::string reason;
                if (r.is_rejection()) {
                    ++rejected;
                    reason = std::string("rejected: ") + failover::to_string(r.rejection().reason);
                } else {
                    ++failed;
                    reason = std::string("failed: ") + failover::to_string(r.verdict().kind);
                    if (r.has_value() && r->status != 0) reason += " status " + std::to_string(r->status);
                }
                std::lock_guard lock(m);
                ++why[reason];
            }
        });
    for (auto& th : pool) th.join();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::string summary = "elapsed " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()) + " ms";
    for (const auto& [reason, count] : why) summary += "; " + reason + ": " + std::to_string(count);
    for (std::size_t i = 0; i < 2; ++i)
        summary += "; region " + std::to_string(i) + ": client 200s " + std::to_string(answered[i].load()) + ", client timeouts " +
                   std::to_string(timed_out[i].load()) + ", server 200s " + std::to_string(env.server.stats(i).answered_ok);
    INFO(summary);
    CHECK(ok + rejected + failed == threads * calls_per_thread);  // every call ended
    CHECK(ok >= threads * calls_per_thread * 99 / 100);
    for (const auto& [reason, count] : why) {
        // the only failures a caller may see here: every region down at once, or a call out of time
        const bool explained = reason == "rejected: no_region_available" || reason == "rejected: deadline_exceeded" ||
                               reason.rfind("failed: timeout", 0) == 0;
        CHECK(explained);
    }
    // Every call that succeeded was answered by exactly one region...
    CHECK(answered[0] + answered[1] == ok);
    CHECK(answered[0] > 0);
    CHECK(answered[1] > 0);
    // ... and each region's server sent every answer the client counted, plus at most the
    // answers that arrived after the client's attempt had already timed out.
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(eventually([&] { return static_cast<long>(env.server.stats(i).answered_ok) >= answered[i].load(); }));
        CHECK(static_cast<long>(env.server.stats(i).answered_ok) <= answered[i].load() + timed_out[i].load());
    }
    CHECK(env.server.stats(0).unauthorized + env.server.stats(1).unauthorized == 0);
}
