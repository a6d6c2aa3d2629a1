// Tests for failover/adapters/httplib.hpp. First without a network: the Error table, a
// Result's status and headers, the timing rule of timed_result, apply_deadline's arithmetic.
// Then the real httplib client (Debian's libcpp-httplib 0.11.4) against the loopback fault
// server: every fault kind, what a read timeout and a reset look like, and one pipeline object
// serving a libcurl transport and an httplib transport.
#include <failover/adapters/httplib.hpp>  // first: the adapter compiles on its own
#include <failover/adapters/curl.hpp>
#include <failover/pipeline.hpp>
#include <failover/regions.hpp>
#include <failover/retry.hpp>
#include <failover/testing.hpp>

#include <fault_server.hpp>

#include <catch2/catch.hpp>

#include "support/catch_printers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ch = failover::cpp_httplib;
namespace http = failover::http;
using failover::duration;
using failover::fault;
using failover::verdict;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<httplib::Error> {
    static std::string convert(httplib::Error e) { return httplib::to_string(e); }
};
}  // namespace Catch

namespace {

httplib::Result error_result(httplib::Error e) { return httplib::Result{nullptr, e}; }

httplib::Result response(int status, httplib::Headers headers = {}) {
    auto res = std::make_unique<httplib::Response>();
    res->status = status;
    res->headers = std::move(headers);
    return httplib::Result{std::move(res), httplib::Error::Success};
}

ch::timed_result timed(httplib::Result r, duration elapsed, ch::timeouts applied) {
    return ch::timed_result{std::move(r), elapsed, applied};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The Error table

TEST_CASE("every httplib::Error has the fault its table gives", "[httplib][error]") {
    using E = httplib::Error;
    const std::pair<E, fault> table[] = {
        {E::Success, fault::none},
        {E::Unknown, fault::rejected},
        {E::Connection, fault::connection},
        {E::BindIPAddress, fault::rejected},
        {E::Read, fault::reset},
        {E::Write, fault::reset},
        {E::ExceedRedirectCount, fault::rejected},
        {E::Canceled, fault::rejected},
        {E::SSLConnection, fault::connection},
        {E::SSLLoadingCerts, fault::rejected},
        {E::SSLServerVerification, fault::connection},
        {E::UnsupportedMultipartBoundaryChars, fault::rejected},
        {E::Compression, fault::rejected},
        {E::ConnectionTimeout, fault::timeout},
    };
    for (const auto& [e, f] : table) {
        INFO(httplib::to_string(e));
        CHECK(ch::error_fault(e) == f);
        CHECK(ch::classify(e) == verdict{.kind = f, .no_retry = e == E::Canceled});
        if (e != E::Success) CHECK(ch::classify(error_result(e)) == ch::classify(e));
    }
    CHECK(static_cast<int>(E::ConnectionTimeout) == 13);  // the table covers 0.11.4's last code
}

TEST_CASE("a Result with neither a response nor an error is rejected", "[httplib][error]") {
    // httplib never returns one; a hand-made Result{nullptr, Success} has nothing to classify.
    CHECK(ch::classify(error_result(httplib::Error::Success)) == verdict{.kind = fault::rejected});
}

TEST_CASE("an Error value newer than the table is rejected", "[httplib][error]") {
    CHECK(ch::error_fault(static_cast<httplib::Error>(14)) == fault::rejected);
    CHECK(ch::error_fault(static_cast<httplib::Error>(-1)) == fault::rejected);
}

TEST_CASE("a call the caller canceled is never retried", "[httplib][error]") {
    const verdict v = ch::classify(error_result(httplib::Error::Canceled));
    CHECK(v.kind == fault::rejected);
    CHECK(v.no_retry);
    CHECK_FALSE(v.retryable());
}

TEST_CASE("the Error table works in constant expressions", "[httplib][error][constexpr]") {
    static_assert(ch::error_fault(httplib::Error::ConnectionTimeout) == fault::timeout);
    static_assert(ch::classify(httplib::Error::Read) == verdict{.kind = fault::reset});
    SUCCEED();
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST_CASE("a Result's status and headers go through failover::http", "[httplib][response]") {
    CHECK(ch::classify(response(200)) == verdict{});
    CHECK(ch::classify(response(503)) == verdict{.kind = fault::unavailable});
    CHECK(ch::classify(response(503, {{"Retry-After", "2"}})) ==
          verdict{.kind = fault::unavailable, .retry_after = duration{2s}});
    // retry-after-ms first, whatever the case of the name (httplib's Headers compare without case)
    CHECK(ch::classify(response(429, {{"Retry-After", "9"}, {"Retry-After-Ms", "1500"}})) ==
          verdict{.kind = fault::throttled, .retry_after = duration{1500ms}});
    CHECK(ch::classify(response(429, {{"x-ms-retry-after-ms", "250"}})) ==
          verdict{.kind = fault::throttled, .retry_after = duration{250ms}});
    CHECK(ch::classify(response(401)) == verdict{.kind = fault::rejected});
    CHECK(ch::classify(response(500, {{"x-should-retry", "false"}})) ==
          verdict{.kind = fault::unavailable, .no_retry = true});
}

TEST_CASE("classify options change how a response's status is read", "[httplib][response]") {
    static const http::classify_options options{.statuses = http::status_map{}.set(401, fault::unavailable),
                                                .honour_should_retry = false};
    CHECK(ch::classify(response(401), options) == verdict{.kind = fault::unavailable});
    CHECK(ch::classify(response(500, {{"x-should-retry", "false"}}), options) == verdict{.kind = fault::unavailable});
    CHECK(ch::classify(error_result(httplib::Error::Connection), options) == verdict{.kind = fault::connection});
}

TEST_CASE("an httplib::Result is classified through failover::classify by ADL", "[httplib][adl]") {
    static_assert(failover::classifiable<httplib::Result>);
    static_assert(failover::classifiable<ch::timed_result>);
    CHECK(failover::classify(response(429, {{"retry-after-ms", "10"}})) ==
          verdict{.kind = fault::throttled, .retry_after = duration{10ms}});
    CHECK(failover::classify(error_result(httplib::Error::ConnectionTimeout)) == verdict{.kind = fault::timeout});
}

// ---------------------------------------------------------------------------------------------
// timed_result: a read timeout told from a reset by time

TEST_CASE("a Read error sooner than the read timeout is a reset, from then on a timeout", "[httplib][timing]") {
    const ch::timeouts applied{.connect = 1s, .read = 150ms, .write = 1s};
    const auto read = [&](duration elapsed) { return ch::classify(timed(error_result(httplib::Error::Read), elapsed, applied)); };
    CHECK(read(0ms) == verdict{.kind = fault::reset});
    CHECK(read(149999us) == verdict{.kind = fault::reset});
    CHECK(read(150ms) == verdict{.kind = fault::timeout});
    CHECK(read(10s) == verdict{.kind = fault::timeout});
}

TEST_CASE("the timing rule compares whole milliseconds, as httplib waits", "[httplib][timing]") {
    // A read timeout of 150.7 ms makes httplib poll() for 150 ms.
    const ch::timeouts applied{.read = duration{150700us}};
    CHECK(ch::classify(timed(error_result(httplib::Error::Read), 150200us, applied)).kind == fault::timeout);
    CHECK(ch::classify(timed(error_result(httplib::Error::Read), 149900us, applied)).kind == fault::reset);
}

TEST_CASE("a Write error is timed against the write timeout", "[httplib][timing]") {
    const ch::timeouts applied{.read = 10s, .write = 100ms};
    CHECK(ch::classify(timed(error_result(httplib::Error::Write), 50ms, applied)).kind == fault::reset);
    CHECK(ch::classify(timed(error_result(httplib::Error::Write), 100ms, applied)).kind == fault::timeout);
    CHECK(ch::classify(timed(error_result(httplib::Error::Read), 100ms, applied)).kind == fault::reset);
}

TEST_CASE("without a known timeout a Read error stays a reset", "[httplib][timing]") {
    CHECK(ch::classify(timed(error_result(httplib::Error::Read), 1h, {})).kind == fault::reset);
}

TEST_CASE("time changes nothing but Read and Write errors", "[httplib][timing]") {
    const ch::timeouts applied{.connect = 1ms, .read = 1ms, .write = 1ms};
    CHECK(ch::classify(timed(error_result(httplib::Error::Connection), 1s, applied)).kind == fault::connection);
    CHECK(ch::classify(timed(error_result(httplib::Error::Canceled), 1s, applied)) ==
          verdict{.kind = fault::rejected, .no_retry = true});
    CHECK(ch::classify(timed(response(200), 1s, applied)) == verdict{});
    CHECK(ch::classify(timed(response(503, {{"retry-after", "1"}}), 1s, applied)) ==
          verdict{.kind = fault::unavailable, .retry_after = duration{1s}});
    static const http::classify_options options{.statuses = http::status_map{}.set(404, fault::unavailable)};
    CHECK(ch::classify(timed(response(404), 1s, applied), options).kind == fault::unavailable);
    CHECK(failover::classify(timed(error_result(httplib::Error::Read), 1s, applied)).kind == fault::timeout);
}

// ---------------------------------------------------------------------------------------------
// apply_deadline, in virtual time (the attempt's time left comes from the pipeline's clock)

namespace {

// The timeouts apply_deadline sets on a real client for a call with `timeout` (none: no deadline).
ch::timeouts applied_for(std::optional<duration> timeout, const ch::timeouts& limits = {}) {
    failover::testing::manual_clock clock;
    auto p = failover::pipeline().with_time(clock);
    httplib::Client client("http://127.0.0.1:9");  // never connects: only the setters run
    ch::timeouts set{};
    auto transport = [&](const failover::attempt& a) {
        set = ch::apply_deadline(client, a, limits);
        return verdict{};
    };
    if (timeout) p(transport, *timeout);
    else p(transport);
    return set;
}

bool same(const ch::timeouts& a, const ch::timeouts& b) {
    return a.connect == b.connect && a.read == b.read && a.write == b.write;
}

}  // namespace

TEST_CASE("with a deadline every timeout is the time left in whole milliseconds", "[httplib][deadline]") {
    CHECK(same(applied_for(1234567us), {.connect = 1234ms, .read = 1234ms, .write = 1234ms}));
}

TEST_CASE("a limit shorter than the time left wins", "[httplib][deadline]") {
    CHECK(same(applied_for(2s, {.connect = 100ms, .read = 5s}), {.connect = 100ms, .read = 2s, .write = 2s}));
}

TEST_CASE("a deadline almost spent still leaves each timeout 1 ms", "[httplib][deadline]") {
    CHECK(same(applied_for(300us), {.connect = 1ms, .read = 1ms, .write = 1ms}));
}

TEST_CASE("a timeout beyond what poll() takes is cut to INT_MAX milliseconds", "[httplib][deadline]") {
    const duration most{std::chrono::milliseconds{INT_MAX}};
    CHECK(same(applied_for(std::chrono::hours{1000}), {.connect = most, .read = most, .write = most}));
    CHECK(same(applied_for(std::nullopt, {.write = duration::max() - 1ns}),
               {.connect = duration::max(), .read = duration::max(), .write = most}));
}

TEST_CASE("without a deadline only the given limits are set", "[httplib][deadline]") {
    CHECK(same(applied_for(std::nullopt), {}));
    CHECK(same(applied_for(std::nullopt, {.read = duration{2500500us}}),
               {.connect = duration::max(), .read = 2500ms, .write = duration::max()}));
}

// ---------------------------------------------------------------------------------------------
// The real client against the loopback fault server

namespace {

constexpr const char* request_body = R"({"messages":[{"role":"user","content":"Hi"}]})";

struct sent {
    ch::timed_result timed;
    verdict from_result;  // classify(const httplib::Result&): what the Result alone says
};

// One POST on a fresh client (no connection reuse between tests), its timeouts set through a
// one-attempt pipeline with a deadline `timeout` away (none can hang) and `limits`.
sent post(const loopback::fault_server& server, std::size_t region, const ch::timeouts& limits = {},
          duration timeout = 5s, const std::string& key = "") {
    httplib::Client client(server.base_url(region));
    const std::string path = "/openai/deployments/" + server.region(region).deployment +
                             "/chat/completions?api-version=2024-10-21";
    const httplib::Headers headers{{"api-key", key.empty() ? server.region(region).api_key : key}};
    auto p = failover::pipeline();
    auto r = p([&](const failover::attempt& a) {
        return ch::send(client, a, [&](httplib::Client& c) { return c.Post(path, headers, request_body, "application/json"); },
                        limits);
    }, timeout);
    REQUIRE(r.has_value());
    ch::timed_result t = std::move(r).value();
    const verdict alone = ch::classify(t.result);
    return sent{std::move(t), alone};
}

loopback::fault_server one_region() { return loopback::fault_server{{{.name = "eastus", .api_key = "key-0"}}}; }

double ms(duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The server counts an answer once its last byte is sent: the client may have it a moment sooner.
template <class F>
bool eventually(F done, duration timeout = 2s) {
    const auto until = failover::clock::now() + timeout;
    while (!done()) {
        if (failover::clock::now() >= until) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

TEST_CASE("a healthy region's answer is a success", "[httplib][real]") {
    auto server = one_region();
    const sent s = post(server, 0);
    REQUIRE(s.timed.result);
    CHECK(s.timed.result->status == 200);
    CHECK(s.timed.result->body.find("choices") != std::string::npos);
    CHECK(s.from_result == verdict{});
    CHECK(ch::classify(s.timed) == verdict{});
    CHECK(eventually([&] { return server.stats(0).answered_ok == 1; }));
}

TEST_CASE("a 503 without Retry-After is unavailable without a delay", "[httplib][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::unavailable);
    const sent s = post(server, 0);
    REQUIRE(s.timed.result);
    CHECK(s.timed.result->status == 503);
    CHECK(s.from_result == verdict{.kind = fault::unavailable});
}

TEST_CASE("a 503 with Retry-After is unavailable with its delay", "[httplib][real]") {
    auto server = one_region();
    server.set(0, {.kind = loopback::behaviour::unavailable, .retry_after = 1500ms});  // sent as "Retry-After: 2"
    const sent s = post(server, 0);
    CHECK(s.from_result == verdict{.kind = fault::unavailable, .retry_after = duration{2s}});
}

TEST_CASE("a 429 with retry-after-ms is throttled with that delay", "[httplib][real]") {
    auto server = one_region();
    server.set(0, {.kind = loopback::behaviour::throttled, .retry_after = 1500ms});
    const sent s = post(server, 0);
    REQUIRE(s.timed.result);
    CHECK(s.timed.result->status == 429);
    CHECK(s.from_result == verdict{.kind = fault::throttled, .retry_after = duration{1500ms}});
}

TEST_CASE("a 500 is unavailable", "[httplib][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::server_error);
    CHECK(post(server, 0).from_result == verdict{.kind = fault::unavailable});
}

TEST_CASE("another region's key is rejected with a 401", "[httplib][real]") {
    loopback::fault_server server{{{.name = "eastus", .api_key = "key-0"}, {.name = "swedencentral", .api_key = "key-1"}}};
    const sent s = post(server, 0, {}, 5s, server.region(1).api_key);
    REQUIRE(s.timed.result);
    CHECK(s.timed.result->status == 401);
    CHECK(s.from_result == verdict{.kind = fault::rejected});
    CHECK(eventually([&] { return server.stats(0).unauthorized == 1; }));
}

TEST_CASE("a stall past the read timeout is Error::Read, a timeout once timed", "[httplib][real][timing]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::stall);
    const sent s = post(server, 0, {.read = 150ms});
    CHECK(s.timed.result.error() == httplib::Error::Read);
    CHECK(s.timed.applied.read == 150ms);
    CHECK(s.timed.elapsed >= 150ms);
    CHECK(s.timed.elapsed < 1s);
    CHECK(s.from_result == verdict{.kind = fault::reset});  // the Result alone cannot tell
    CHECK(ch::classify(s.timed) == verdict{.kind = fault::timeout});
}

TEST_CASE("a connection reset is Error::Read, and a reset when timed", "[httplib][real][timing]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::reset);
    const sent s = post(server, 0, {.read = 300ms});
    CHECK(s.timed.result.error() == httplib::Error::Read);
    CHECK(s.timed.elapsed < 300ms);
    CHECK(s.from_result == verdict{.kind = fault::reset});
    CHECK(ch::classify(s.timed) == verdict{.kind = fault::reset});
    CHECK(eventually([&] { return server.stats(0).faults == 1; }));
}

TEST_CASE("a read timeout, a reset and an early close are all Error::Read, apart only in time",
          "[httplib][real][timing]") {
    auto server = one_region();
    struct row {
        const char* what;
        loopback::fault fault;
    };
    const row rows[] = {
        {"stall (read timeout 150 ms)", {.kind = loopback::behaviour::stall}},
        {"reset (RST after the request)", {.kind = loopback::behaviour::reset}},
        {"close after 50 ms (EOF)", {.kind = loopback::behaviour::stall, .delay = 50ms}},
        {"cut body (EOF mid-body)", {.kind = loopback::behaviour::cut_body}},
    };
    const fault timed_fault[] = {fault::timeout, fault::reset, fault::reset, fault::reset};
    for (std::size_t i = 0; i < std::size(rows); ++i) {
        server.set(0, rows[i].fault);
        const sent s = post(server, 0, {.read = 150ms});
        std::printf("httplib 0.11.4, read timeout 150 ms: %-30s -> Error::%s after %7.2f ms; Result alone: %s, timed: %s\n",
                    rows[i].what, httplib::to_string(s.timed.result.error()).c_str(), ms(s.timed.elapsed),
                    failover::to_string(s.from_result.kind), failover::to_string(ch::classify(s.timed).kind));
        INFO(rows[i].what);
        CHECK(s.timed.result.error() == httplib::Error::Read);
        CHECK(s.from_result.kind == fault::reset);
        CHECK(ch::classify(s.timed).kind == timed_fault[i]);
    }
}

TEST_CASE("a refused port is a connection fault", "[httplib][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::refuse);
    const sent s = post(server, 0);
    CHECK(s.timed.result.error() == httplib::Error::Connection);
    CHECK(s.from_result == verdict{.kind = fault::connection});
    CHECK(ch::classify(s.timed) == verdict{.kind = fault::connection});
}

TEST_CASE("a connection never accepted is a ConnectionTimeout, a timeout", "[httplib][real]") {
    // A listener with a full accept queue that never accepts: Linux drops further SYNs, so
    // connect() neither succeeds nor fails until the client gives up.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 0) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        REQUIRE(fd >= 0);
        [[maybe_unused]] const int pending = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
    }

    httplib::Client client("127.0.0.1", ntohs(addr.sin_port));
    auto p = failover::pipeline();
    auto r = p([&](const failover::attempt& a) {
        return ch::send(client, a, [](httplib::Client& c) { return c.Get("/"); }, {.connect = 100ms});
    }, 5s);
    for (int fd : fillers) ::close(fd);
    ::close(listener);
    REQUIRE(r.has_value());
    CHECK(r->result.error() == httplib::Error::ConnectionTimeout);
    CHECK(r->elapsed >= 100ms);
    CHECK(r->elapsed < 1s);
    CHECK(r.verdict() == verdict{.kind = fault::timeout});
}

TEST_CASE("a slow answer within the deadline is a success", "[httplib][real][deadline]") {
    auto server = one_region();
    server.set(0, {.kind = loopback::behaviour::slow, .delay = 100ms});
    const sent s = post(server, 0, {}, 2s);  // read timeout: the time left, about 2 s
    CHECK(s.timed.applied.read > 1500ms);
    REQUIRE(s.timed.result);
    CHECK(s.timed.result->status == 200);
    CHECK(s.timed.elapsed >= 100ms);
    CHECK(ch::classify(s.timed) == verdict{});
}

TEST_CASE("the attempt's deadline bounds a stall without any limit", "[httplib][real][deadline]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::stall);
    const auto start = failover::clock::now();
    const sent s = post(server, 0, {}, 250ms);  // httplib's own read timeout would be 5 s
    const duration elapsed = failover::clock::now() - start;
    CHECK(s.timed.applied.read <= 250ms);
    CHECK(s.timed.applied.read >= 200ms);
    CHECK(ch::classify(s.timed) == verdict{.kind = fault::timeout});
    CHECK(elapsed < 1500ms);
}

TEST_CASE("a body cut short of its Content-Length is a reset", "[httplib][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::cut_body);
    const sent s = post(server, 0, {.read = 300ms});
    CHECK(s.timed.result.error() == httplib::Error::Read);
    CHECK_FALSE(s.timed.result);  // httplib keeps no part of the response
    CHECK(s.from_result == verdict{.kind = fault::reset});
    CHECK(ch::classify(s.timed) == verdict{.kind = fault::reset});
}

// ---------------------------------------------------------------------------------------------
// One pipeline, two HTTP stacks

namespace {

struct region {  // the user's own region type: endpoint, deployment, credentials
    std::string name;
    std::string base_url;
    std::string deployment;
    std::string api_key;
};

std::string chat_path(const region& r) {
    return "/openai/deployments/" + r.deployment + "/chat/completions?api-version=2024-10-21";
}

using easy_handle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using header_list = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

}  // namespace

TEST_CASE("one pipeline object fails over through libcurl and through httplib alike", "[httplib][curl][real][pipeline]") {
    loopback::fault_server server{{{.name = "eastus", .api_key = "key-east", .deployment = "gpt-east"},
                                   {.name = "swedencentral", .api_key = "key-sweden", .deployment = "gpt-sweden"}}};
    const std::vector<region> regions = {
        {"eastus", server.base_url(0), "gpt-east", "key-east"},
        {"swedencentral", server.base_url(1), "gpt-sweden", "key-sweden"},
    };
    // Five failures to open the primary's breaker: each call below meets the 503 first.
    auto policy = failover::pipeline(
        failover::retry{{.max_attempts = 3, .backoff = failover::constant{1ms}, .jitter = failover::jitter::none}},
        failover::regions{regions, failover::by_priority,
                          failover::circuit_breaker_options{.consecutive_failures = 5, .open_for = 30s}});
    server.set(0, loopback::behaviour::unavailable);

    std::vector<std::size_t> curl_visits;
    auto via_curl = [&](const failover::attempt& a) {
        const region& r = a.region<region>();
        curl_visits.push_back(a.region_index());
        easy_handle h(curl_easy_init(), &curl_easy_cleanup);
        REQUIRE(h);
        const std::string url = r.base_url + chat_path(r), key = "api-key: " + r.api_key;
        header_list headers(curl_slist_append(nullptr, key.c_str()), &curl_slist_free_all);
        headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
        std::string body;
        curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
        curl_easy_setopt(h.get(), CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, request_body);
        curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &body);
        failover::curl::apply_deadline(h.get(), a);
        return failover::curl::finish(h.get(), curl_easy_perform(h.get()));
    };

    // httplib: one client per region, kept across calls (per thread in a threaded program).
    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (const region& r : regions) clients.push_back(std::make_unique<httplib::Client>(r.base_url));
    std::vector<std::size_t> httplib_visits;
    auto via_httplib = [&](const failover::attempt& a) {
        const region& r = a.region<region>();
        httplib_visits.push_back(a.region_index());
        httplib::Client& c = *clients[a.region_index()];
        ch::apply_deadline(c, a);
        return c.Post(chat_path(r), httplib::Headers{{"api-key", r.api_key}}, request_body, "application/json");
    };

    failover::result<failover::curl::transfer> by_curl = policy(via_curl, 5s);
    REQUIRE(by_curl.has_value());
    CHECK(by_curl.ok());
    CHECK(by_curl->status == 200);
    CHECK(curl_visits == std::vector<std::size_t>{0, 1});

    failover::result<httplib::Result> by_httplib = policy(via_httplib, 5s);  // the same object
    REQUIRE(by_httplib.has_value());
    CHECK(by_httplib.ok());
    REQUIRE(*by_httplib);
    CHECK((*by_httplib)->status == 200);
    CHECK(httplib_visits == std::vector<std::size_t>{0, 1});

    // The timed form through the same object too.
    std::vector<std::size_t> timed_visits;
    auto r = policy([&](const failover::attempt& a) {
        const region& reg = a.region<region>();
        timed_visits.push_back(a.region_index());
        return ch::send(*clients[a.region_index()], a, [&](httplib::Client& c) {
            return c.Post(chat_path(reg), httplib::Headers{{"api-key", reg.api_key}}, request_body, "application/json");
        });
    }, 5s);
    CHECK(r.ok());
    CHECK(timed_visits == std::vector<std::size_t>{0, 1});

    // Each region saw its own key only; the primary's health counts every stack's 503.
    CHECK(eventually([&] { return server.stats(0).answered_error == 3; }));
    CHECK(eventually([&] { return server.stats(1).answered_ok == 3; }));
    CHECK(server.stats(0).unauthorized == 0);
    CHECK(server.stats(1).unauthorized == 0);
    CHECK(policy.get<1>().breaker(0).state() == failover::breaker_state::closed);  // 3 of 5 failures
}
