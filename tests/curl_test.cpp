// Tests for failover/adapters/curl.hpp. First without a network: the code table, the
// precedence of classify(transfer), the timeout conversions, CURLcode through the
// customization point. Then real libcurl transfers against the loopback fault server.
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include <failover/adapters/curl.hpp>
#include <failover/pipeline.hpp>
#include <failover/retry.hpp>
#include <failover/testing.hpp>

#include <fault_server.hpp>

#include <catch2/catch.hpp>

#include "support/catch_printers.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace curl = failover::curl;
namespace http = failover::http;
using failover::duration;
using failover::fault;
using failover::verdict;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<CURLcode> {
    static std::string convert(CURLcode c) {
        return std::to_string(static_cast<int>(c)) + " (" + curl_easy_strerror(c) + ")";
    }
};
}  // namespace Catch

namespace {

// The table of the header comment, code by code. Every code not listed is `rejected`.
const std::map<CURLcode, fault> documented = {
    {CURLE_OK, fault::none},
    {CURLE_OPERATION_TIMEDOUT, fault::timeout},
    {CURLE_FTP_ACCEPT_TIMEOUT, fault::timeout},
    {CURLE_AGAIN, fault::timeout},
    {CURLE_COULDNT_RESOLVE_HOST, fault::connection},
    {CURLE_COULDNT_RESOLVE_PROXY, fault::connection},
    {CURLE_COULDNT_CONNECT, fault::connection},
    {CURLE_SSL_CONNECT_ERROR, fault::connection},
    {CURLE_PEER_FAILED_VERIFICATION, fault::connection},
    {CURLE_SSL_ISSUER_ERROR, fault::connection},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, fault::connection},
    {CURLE_SSL_INVALIDCERTSTATUS, fault::connection},
    {CURLE_QUIC_CONNECT_ERROR, fault::connection},
    {CURLE_PROXY, fault::connection},
    {CURLE_SEND_ERROR, fault::reset},
    {CURLE_RECV_ERROR, fault::reset},
    {CURLE_GOT_NOTHING, fault::reset},
    {CURLE_PARTIAL_FILE, fault::reset},
    {CURLE_HTTP2, fault::reset},
    {CURLE_HTTP2_STREAM, fault::reset},
    {CURLE_HTTP3, fault::reset},
    {CURLE_WEIRD_SERVER_REPLY, fault::reset},
    {CURLE_BAD_CONTENT_ENCODING, fault::reset},
    {CURLE_SEND_FAIL_REWIND, fault::reset},
    {CURLE_SSL_SHUTDOWN_FAILED, fault::reset},
};

// Codes the comment names as rejected, checked by name as well as by the default.
const CURLcode named_rejected[] = {
    CURLE_ABORTED_BY_CALLBACK, CURLE_WRITE_ERROR, CURLE_UNSUPPORTED_PROTOCOL, CURLE_FAILED_INIT,
    CURLE_URL_MALFORMAT, CURLE_NOT_BUILT_IN, CURLE_FUNCTION_NOT_FOUND, CURLE_BAD_FUNCTION_ARGUMENT,
    CURLE_UNKNOWN_OPTION, CURLE_SETOPT_OPTION_SYNTAX, CURLE_RECURSIVE_API_CALL, CURLE_INTERFACE_FAILED,
    CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
    CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CRL_BADFILE, CURLE_READ_ERROR,
    CURLE_HTTP_POST_ERROR, CURLE_AUTH_ERROR, CURLE_OUT_OF_MEMORY, CURLE_TOO_MANY_REDIRECTS,
    CURLE_FILESIZE_EXCEEDED, CURLE_REMOTE_ACCESS_DENIED, CURLE_LOGIN_DENIED, CURLE_SSL_CLIENTCERT,
    CURLE_UPLOAD_FAILED, CURLE_RANGE_ERROR, CURLE_BAD_DOWNLOAD_RESUME, CURLE_HTTP_RETURNED_ERROR,
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Result codes

TEST_CASE("every code of the table has its documented fault", "[curl][code]") {
    for (const auto& [code, f] : documented) {
        INFO(Catch::StringMaker<CURLcode>::convert(code));
        CHECK(curl::classify_code(code) == f);
    }
    for (CURLcode code : named_rejected) {
        INFO(Catch::StringMaker<CURLcode>::convert(code));
        CHECK(curl::classify_code(code) == fault::rejected);
    }
}

TEST_CASE("every other code, known or not, is rejected", "[curl][code]") {
    for (int n = 0; n <= CURL_LAST + 20; ++n) {
        const auto code = static_cast<CURLcode>(n);
        if (documented.count(code) != 0) continue;
        INFO(Catch::StringMaker<CURLcode>::convert(code));
        CHECK(curl::classify_code(code) == fault::rejected);
    }
}

TEST_CASE("a transfer the caller stopped is rejected and never retried", "[curl][code]") {
    for (CURLcode code : {CURLE_ABORTED_BY_CALLBACK, CURLE_WRITE_ERROR}) {
        INFO(Catch::StringMaker<CURLcode>::convert(code));
        CHECK(curl::stopped_by_caller(code));
        CHECK(curl::classify(code) == verdict{.kind = fault::rejected, .no_retry = true});
    }
    CHECK_FALSE(curl::stopped_by_caller(CURLE_URL_MALFORMAT));
    CHECK(curl::classify(CURLE_URL_MALFORMAT) == verdict{.kind = fault::rejected});
    CHECK(curl::classify(CURLE_RECV_ERROR) == verdict{.kind = fault::reset});
    CHECK(curl::classify(CURLE_OK) == failover::success);
}

TEST_CASE("a bare CURLcode is classifiable through failover::classify", "[curl][code][adl]") {
    STATIC_REQUIRE(failover::classifiable<CURLcode>);
    STATIC_REQUIRE(failover::classifiable<curl::transfer>);
    CHECK(failover::classify(CURLE_COULDNT_CONNECT) == verdict{.kind = fault::connection});
    CHECK(failover::classify(CURLE_WRITE_ERROR) == verdict{.kind = fault::rejected, .no_retry = true});
    CHECK(failover::classify(curl::transfer{.code = CURLE_OK, .status = 429, .retry_after = 1s}) ==
          verdict{.kind = fault::throttled, .retry_after = 1s});
}

TEST_CASE("a transport returning a bare CURLcode is retried through the pipeline", "[curl][code][pipeline]") {
    failover::testing::manual_clock clock;
    auto p = failover::pipeline(failover::retry{{.max_attempts = 3,
                                                 .backoff = failover::constant{10ms},
                                                 .jitter = failover::jitter::none}})
                 .with_time(clock);
    int calls = 0;
    auto r = p([&]() { return ++calls == 1 ? CURLE_COULDNT_CONNECT : CURLE_OK; });
    CHECK(r.ok());
    CHECK(r.report().attempts == 2);
    CHECK(clock.now() - failover::time_point{} == 1h + 10ms);
}

TEST_CASE("the code table and classify work in constant expressions", "[curl][constexpr]") {
    STATIC_REQUIRE(curl::classify_code(CURLE_OPERATION_TIMEDOUT) == fault::timeout);
    STATIC_REQUIRE(curl::classify(CURLE_ABORTED_BY_CALLBACK).no_retry);
    STATIC_REQUIRE(curl::classify(curl::transfer{.status = 503, .retry_after = 2s}) ==
                   verdict{.kind = fault::unavailable, .retry_after = 2s});
    STATIC_REQUIRE(failover_classify(CURLE_PARTIAL_FILE).kind == fault::reset);
}

// ---------------------------------------------------------------------------------------------
// classify(transfer)

TEST_CASE("a curl error decides before the status and its headers", "[curl][transfer]") {
    // A 503 whose body then broke: the transport's fault, without the response's hints.
    CHECK(curl::classify(curl::transfer{.code = CURLE_PARTIAL_FILE, .status = 503, .retry_after = 5s}) ==
          verdict{.kind = fault::reset});
    CHECK(curl::classify(curl::transfer{.code = CURLE_OPERATION_TIMEDOUT, .status = 200}) ==
          verdict{.kind = fault::timeout});
    CHECK(curl::classify(curl::transfer{.code = CURLE_COULDNT_CONNECT}) == verdict{.kind = fault::connection});
    CHECK(curl::classify(curl::transfer{.code = CURLE_RECV_ERROR, .status = 200, .truncated = true}) ==
          verdict{.kind = fault::reset});
}

TEST_CASE("without a curl error the status and its headers decide", "[curl][transfer]") {
    CHECK(curl::classify(curl::transfer{.status = 200}) == failover::success);
    CHECK(curl::classify(curl::transfer{.status = 503}) == verdict{.kind = fault::unavailable});
    CHECK(curl::classify(curl::transfer{.status = 503, .retry_after = 300ms}) ==
          verdict{.kind = fault::unavailable, .retry_after = 300ms});
    CHECK(curl::classify(curl::transfer{.status = 429, .retry_after = 1500ms}) ==
          verdict{.kind = fault::throttled, .retry_after = 1500ms});
    CHECK(curl::classify(curl::transfer{.status = 401}) == verdict{.kind = fault::rejected});
    CHECK(curl::classify(curl::transfer{.status = 408}) == verdict{.kind = fault::timeout});
    // A success carries no delay, whatever the server sent.
    CHECK(curl::classify(curl::transfer{.status = 200, .retry_after = 1s, .should_retry = false}) == failover::success);
}

TEST_CASE("x-should-retry acts on a transfer as on any response", "[curl][transfer]") {
    CHECK(curl::classify(curl::transfer{.status = 503, .should_retry = false}) ==
          verdict{.kind = fault::unavailable, .no_retry = true});
    CHECK(curl::classify(curl::transfer{.status = 400, .should_retry = true}) == verdict{.kind = fault::unavailable});
    const http::classify_options ignore{.honour_should_retry = false};
    CHECK(curl::classify(curl::transfer{.status = 400, .should_retry = true}, ignore) == verdict{.kind = fault::rejected});
    CHECK(curl::classify(curl::transfer{.status = 503, .should_retry = false}, ignore) == verdict{.kind = fault::unavailable});
}

TEST_CASE("the options' status table applies to a transfer", "[curl][transfer]") {
    static const http::classify_options options{.statuses = http::status_map{}.set(401, fault::unavailable)};
    CHECK(curl::classify(curl::transfer{.status = 401}, options) == verdict{.kind = fault::unavailable});
    CHECK(curl::classify(curl::transfer{.status = 401}) == verdict{.kind = fault::rejected});
}

TEST_CASE("with CURLOPT_FAILONERROR the status behind the code decides", "[curl][transfer]") {
    CHECK(curl::classify(curl::transfer{.code = CURLE_HTTP_RETURNED_ERROR, .status = 429, .retry_after = 2s}) ==
          verdict{.kind = fault::throttled, .retry_after = 2s});
    CHECK(curl::classify(curl::transfer{.code = CURLE_HTTP_RETURNED_ERROR, .status = 503}) ==
          verdict{.kind = fault::unavailable});
    CHECK(curl::classify(curl::transfer{.code = CURLE_HTTP_RETURNED_ERROR, .status = 400}) ==
          verdict{.kind = fault::rejected});
    // Without a status the code alone is all there is.
    CHECK(curl::classify(curl::transfer{.code = CURLE_HTTP_RETURNED_ERROR}) == verdict{.kind = fault::rejected});
}

TEST_CASE("a truncated stream with a success status is a reset", "[curl][transfer][stream]") {
    CHECK(curl::classify(curl::transfer{.status = 200, .truncated = true}) == verdict{.kind = fault::reset});
    // An error answer has no terminator to miss: its status decides.
    CHECK(curl::classify(curl::transfer{.status = 429, .retry_after = 1s, .truncated = true}) ==
          verdict{.kind = fault::throttled, .retry_after = 1s});
    CHECK(curl::classify(curl::transfer{.status = 503, .truncated = true}) == verdict{.kind = fault::unavailable});
}

TEST_CASE("a failure after part of the body was delivered is never retried", "[curl][transfer][stream]") {
    CHECK(curl::classify(curl::transfer{.status = 200, .delivered = true, .truncated = true}) ==
          verdict{.kind = fault::reset, .no_retry = true});
    CHECK(curl::classify(curl::transfer{.code = CURLE_OPERATION_TIMEDOUT, .status = 200, .delivered = true}) ==
          verdict{.kind = fault::timeout, .no_retry = true});
    CHECK(curl::classify(curl::transfer{.code = CURLE_RECV_ERROR, .status = 200, .delivered = true}) ==
          verdict{.kind = fault::reset, .no_retry = true});
    // A whole stream is a plain success.
    CHECK(curl::classify(curl::transfer{.status = 200, .delivered = true}) == failover::success);
}

TEST_CASE("a status that is not a three-digit number is out of the table", "[curl][transfer]") {
    CHECK(curl::classify(curl::transfer{.status = 0}) == verdict{.kind = fault::unavailable});
    CHECK(curl::classify(curl::transfer{.status = -1}) == verdict{.kind = fault::unavailable});
    // 4294967496 would narrow to 200 as an int.
    CHECK(curl::classify(curl::transfer{.status = 4294967496L}) == verdict{.kind = fault::unavailable});
    static const http::classify_options options{.statuses = http::status_map{}.set_out_of_range(fault::connection)};
    CHECK(curl::classify(curl::transfer{.status = 0}, options) == verdict{.kind = fault::connection});
}

TEST_CASE("finish without a handle keeps the code alone", "[curl][transfer]") {
    const curl::transfer t = curl::finish(nullptr, CURLE_COULDNT_CONNECT);
    CHECK(t.code == CURLE_COULDNT_CONNECT);
    CHECK(t.status == 0);
    CHECK_FALSE(t.retry_after);
    CHECK(curl::classify(t) == verdict{.kind = fault::connection});
}

// ---------------------------------------------------------------------------------------------
// Timeouts

TEST_CASE("timeouts are whole milliseconds rounded up, never zero", "[curl][deadline]") {
    using curl::detail::timeout_ms;
    CHECK(timeout_ms(duration::zero()) == 1);  // 0 would mean "no timeout" to libcurl
    CHECK(timeout_ms(-5s) == 1);
    CHECK(timeout_ms(1ns) == 1);
    CHECK(timeout_ms(1ms) == 1);
    CHECK(timeout_ms(1ms + 1ns) == 2);
    CHECK(timeout_ms(250ms) == 250);
    CHECK(timeout_ms(30s) == 30'000);
    CHECK(timeout_ms(duration::max()) == INT_MAX);
    CHECK(timeout_ms(std::chrono::hours{24 * 30}) == INT_MAX);
}

TEST_CASE("apply_deadline accepts a null handle", "[curl][deadline]") {
    curl::apply_deadline(nullptr, failover::deadline::after(failover::clock::now(), 1s));
    curl::apply_time_left(nullptr, 1s, {.connect = 1s});
    SUCCEED();
}

// ---------------------------------------------------------------------------------------------
// Real transfers: libcurl against the loopback fault server

namespace {

struct curl_global {
    curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    ~curl_global() { curl_global_cleanup(); }
    curl_global(const curl_global&) = delete;
    curl_global& operator=(const curl_global&) = delete;
};
const curl_global curl_global_instance;

using easy_handle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using header_list = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// The stream sink and write callback of the header comment, as a user would copy them.
struct stream_sink {
    CURL* handle;
    void (*forward)(std::string_view chunk, void* context);
    void* context;
    failover::http::event_stream_end end{};
    bool delivered = false;
    std::string error_body{};
};

std::size_t on_stream_body(char* data, std::size_t size, std::size_t count, void* user) {
    stream_sink& s = *static_cast<stream_sink*>(user);
    const std::string_view chunk(data, size * count);
    long status = 0;
    curl_easy_getinfo(s.handle, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        if (s.error_body.size() < 64 * 1024) s.error_body.append(chunk);
        return chunk.size();
    }
    s.end.feed(chunk);
    s.forward(chunk, s.context);
    s.delivered = true;
    return chunk.size();
}

void collect(std::string_view chunk, void* context) { static_cast<std::string*>(context)->append(chunk); }

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

struct call {
    std::string key = "key-0";
    bool stream = false;
    curl::timeouts limits{};
};

struct exchange {
    curl::transfer transfer;
    std::string body;        // what reached the caller (the stream's chunks, or the whole body)
    std::string error_body;  // streams: a non-2xx answer's body
    bool stream_done = false;
    duration elapsed{};
};

// One POST to `url` on a fresh handle (no connection reuse between tests), its timeouts set by
// `set_timeouts(handle)`.
template <class SetTimeouts>
exchange post_with(const std::string& url, const call& c, SetTimeouts&& set_timeouts) {
    exchange out;
    easy_handle h(curl_easy_init(), &curl_easy_cleanup);
    REQUIRE(h);
    const std::string key_header = "api-key: " + c.key;
    header_list headers(curl_slist_append(nullptr, key_header.c_str()), &curl_slist_free_all);
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
    const std::string body = std::string(R"({"messages":[{"role":"user","content":"Hi"}])") +
                             (c.stream ? R"(,"stream":true})" : "}");
    curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(h.get(), CURLOPT_NOPROXY, "*");  // a proxy from the environment must not see loopback
    curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, body.c_str());
    stream_sink sink{h.get(), collect, &out.body};
    if (c.stream) {
        curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, on_stream_body);
        curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &sink);
    } else {
        curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, append_body);
        curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &out.body);
    }
    set_timeouts(h.get());
    const auto start = failover::clock::now();
    out.transfer = curl::finish(h.get(), curl_easy_perform(h.get()));
    out.elapsed = failover::clock::now() - start;
    if (c.stream) {
        out.transfer.delivered = sink.delivered;
        out.transfer.truncated = !sink.end.done();
        out.stream_done = sink.end.done();
        out.error_body = std::move(sink.error_body);
    }
    return out;
}

// As above with a deadline `timeout` from now (every test transfer has one: none can hang).
exchange post(const std::string& url, const call& c = {}, duration timeout = 5s) {
    const failover::deadline d = failover::deadline::after(failover::clock::now(), timeout);
    return post_with(url, c, [&](CURL* h) { curl::apply_deadline(h, d, c.limits); });
}

loopback::fault_server one_region() { return loopback::fault_server{{{.name = "eastus", .api_key = "key-0"}}}; }

}  // namespace

TEST_CASE("a healthy region's answer is a success", "[curl][real]") {
    auto server = one_region();
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.code == CURLE_OK);
    CHECK(e.transfer.status == 200);
    CHECK(curl::classify(e.transfer) == failover::success);
    CHECK(e.body.find("Hello from eastus.") != std::string::npos);
}

TEST_CASE("a 503 without Retry-After is unavailable without a delay", "[curl][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::unavailable);
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.code == CURLE_OK);
    CHECK(e.transfer.status == 503);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::unavailable});
}

TEST_CASE("a 503 with Retry-After is unavailable with its delay", "[curl][real]") {
    auto server = one_region();
    server.set(0, loopback::fault{.kind = loopback::behaviour::unavailable, .retry_after = 2s});
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.status == 503);
    CHECK(e.transfer.retry_after == 2s);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::unavailable, .retry_after = 2s});
}

TEST_CASE("a 429 with retry-after-ms is throttled with that delay", "[curl][real]") {
    auto server = one_region();
    // The server also sends "retry-after: 2"; retry-after-ms comes first.
    server.set(0, loopback::fault{.kind = loopback::behaviour::throttled, .retry_after = 1500ms});
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.status == 429);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::throttled, .retry_after = 1500ms});
}

TEST_CASE("a 500 is unavailable", "[curl][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::server_error);
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.status == 500);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::unavailable});
}

TEST_CASE("a wrong key is rejected", "[curl][real]") {
    auto server = one_region();
    const exchange e = post(server.chat_url(0), {.key = "key-of-another-region"});
    CHECK(e.transfer.status == 401);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::rejected});
    CHECK_FALSE(curl::classify(e.transfer).retryable());
}

TEST_CASE("a stall past the deadline is a timeout", "[curl][real][deadline]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::stall);
    const exchange e = post(server.chat_url(0), {}, 200ms);
    CHECK(e.transfer.code == CURLE_OPERATION_TIMEDOUT);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::timeout});
    CHECK(e.elapsed >= 190ms);  // libcurl's clock and ours differ by a little
    CHECK(e.elapsed < 1500ms);
}

TEST_CASE("a connection reset is a reset", "[curl][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::reset);
    const exchange e = post(server.chat_url(0));
    INFO(Catch::StringMaker<CURLcode>::convert(e.transfer.code));
    CHECK((e.transfer.code == CURLE_RECV_ERROR || e.transfer.code == CURLE_GOT_NOTHING ||
           e.transfer.code == CURLE_SEND_ERROR));
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::reset});
}

TEST_CASE("a refused port is a connection fault", "[curl][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::refuse);
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.code == CURLE_COULDNT_CONNECT);
    CHECK(e.transfer.status == 0);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::connection});
}

TEST_CASE("a slow answer within the deadline is a success", "[curl][real][deadline]") {
    auto server = one_region();
    server.set(0, loopback::fault{.kind = loopback::behaviour::slow, .delay = 100ms});
    const exchange e = post(server.chat_url(0), {}, 2s);
    CHECK(e.transfer.code == CURLE_OK);
    CHECK(curl::classify(e.transfer) == failover::success);
    CHECK(e.elapsed >= 100ms);
}

TEST_CASE("a body cut short of its Content-Length is a reset", "[curl][real]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::cut_body);
    const exchange e = post(server.chat_url(0));
    CHECK(e.transfer.code == CURLE_PARTIAL_FILE);
    CHECK(e.transfer.status == 200);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::reset});
}

TEST_CASE("a whole stream is a success with its end seen", "[curl][real][stream]") {
    auto server = one_region();
    const exchange e = post(server.chat_url(0), {.stream = true});
    CHECK(e.transfer.code == CURLE_OK);
    CHECK(e.transfer.status == 200);
    CHECK(e.stream_done);
    CHECK(e.transfer.delivered);
    CHECK_FALSE(e.transfer.truncated);
    CHECK(curl::classify(e.transfer) == failover::success);
    CHECK(e.body.ends_with("data: [DONE]\n\n"));
}

TEST_CASE("a stream cut cleanly is a reset that is not retried", "[curl][real][stream]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::stream_cut);
    const exchange e = post(server.chat_url(0), {.stream = true});
    CHECK(e.transfer.code == CURLE_OK);  // what every SDK takes for a success
    CHECK(e.transfer.status == 200);
    CHECK_FALSE(e.stream_done);
    CHECK(e.transfer.truncated);
    CHECK(e.transfer.delivered);
    CHECK(e.body.find("data: ") != std::string::npos);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::reset, .no_retry = true});
}

TEST_CASE("an error answer to a stream request stays retryable", "[curl][real][stream]") {
    auto server = one_region();
    server.set(0, loopback::fault{.kind = loopback::behaviour::throttled, .retry_after = 300ms});
    const exchange e = post(server.chat_url(0), {.stream = true});
    CHECK(e.transfer.status == 429);
    CHECK_FALSE(e.transfer.delivered);
    CHECK(e.body.empty());  // the caller saw nothing of it
    CHECK(e.error_body.find("\"429\"") != std::string::npos);
    CHECK(curl::classify(e.transfer) == verdict{.kind = fault::throttled, .retry_after = 300ms});
}

TEST_CASE("the attempt's deadline bounds a stalled transfer in a pipeline", "[curl][real][deadline][pipeline]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::stall);
    auto p = failover::pipeline();
    const std::string url = server.chat_url(0);
    const auto start = failover::clock::now();
    auto r = p([&](const failover::attempt& a) {
        return post_with(url, {}, [&](CURL* h) { curl::apply_deadline(h, a); }).transfer;
    }, 250ms);
    const duration elapsed = failover::clock::now() - start;
    REQUIRE(r.has_value());
    CHECK(r->code == CURLE_OPERATION_TIMEDOUT);
    CHECK(r.verdict() == verdict{.kind = fault::timeout});
    CHECK(elapsed >= 240ms);
    CHECK(elapsed < 1500ms);
}

TEST_CASE("a single reset is retried in place through the pipeline", "[curl][real][pipeline]") {
    auto server = one_region();
    server.set(0, loopback::behaviour::reset);
    auto p = failover::pipeline(failover::retry{{.max_attempts = 3,
                                                 .backoff = failover::constant{1ms},
                                                 .jitter = failover::jitter::none}});
    const std::string url = server.chat_url(0);
    auto r = p([&](const failover::attempt& a) {
        curl::transfer t = post_with(url, {}, [&](CURL* h) { curl::apply_deadline(h, a, {.total = 1s}); }).transfer;
        if (a.number() == 1) server.set(0, loopback::behaviour::healthy);  // the region recovers
        return t;
    }, 5s);
    REQUIRE(r.has_value());
    CHECK(r.ok());
    CHECK(r->status == 200);
    CHECK(r.report().attempts == 2);
    CHECK(server.stats(0).faults == 1);
    CHECK(server.stats(0).requests == 2);
}
