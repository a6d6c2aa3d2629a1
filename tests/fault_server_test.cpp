#include <catch2/catch.hpp>

#include <fault_server.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using loopback::behaviour;
using loopback::fault;
using loopback::fault_server;

namespace {

using clock_type = std::chrono::steady_clock;

/// A plain blocking client socket on 127.0.0.1, with bounded reads.
class client {
public:
    explicit client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0))
    {
        REQUIRE(fd_ >= 0);
        error_ = connect_to(fd_, port);
    }
    ~client()
    {
        if (fd_ >= 0) ::close(fd_);
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// 0 when connected, else connect()'s errno.
    int connect_error() const { return error_; }

    static int connect_to(int fd, std::uint16_t port)
    {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
    }

    bool send(const std::string& data)
    {
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

    enum class end { data, eof, reset, timeout };

    /// Reads what arrives within the timeout into `into`; says how the read ended.
    end read_some(std::string& into, std::chrono::milliseconds timeout)
    {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) == 0) return end::timeout;
        char buffer[8192];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n > 0) {
            into.append(buffer, static_cast<std::size_t>(n));
            return end::data;
        }
        if (n == 0) return end::eof;
        return errno == ECONNRESET ? end::reset : end::eof;
    }

    /// Reads until the server closes (or resets, or the deadline passes).
    end read_to_end(std::string& into, std::chrono::milliseconds timeout = 2000ms)
    {
        const auto deadline = clock_type::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
            if (left <= 0ms) return end::timeout;
            const end e = read_some(into, left);
            if (e != end::data) return e;
        }
    }

    struct response {
        int status = 0;
        std::string head, body;
        bool complete = false;  // the whole Content-Length arrived
        std::size_t content_length = 0;

        std::optional<std::string> header(std::string name) const
        {
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::size_t pos = 0;
            while ((pos = head.find("\r\n", pos)) != std::string::npos) {
                pos += 2;
                const std::size_t end = head.find("\r\n", pos), colon = head.find(':', pos);
                if (colon == std::string::npos || colon > end) continue;
                std::string key = head.substr(pos, colon - pos);
                for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                if (key == name) {
                    std::size_t v = colon + 1;
                    while (v < end && head[v] == ' ') ++v;
                    return head.substr(v, end - v);
                }
            }
            return std::nullopt;
        }
    };

    /// One response: the head, then Content-Length bytes of body (or up to the close without one).
    std::optional<response> read_response(std::chrono::milliseconds timeout = 2000ms)
    {
        const auto deadline = clock_type::now() + timeout;
        const auto left = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()); };
        std::size_t head_end;
        while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (left() <= 0ms || read_some(buffer_, left()) != end::data) return std::nullopt;
        response r;
        r.head = buffer_.substr(0, head_end);
        buffer_.erase(0, head_end + 4);
        r.status = std::stoi(r.head.substr(9, 3));
        if (r.status < 200) {  // interim answers have no body
            r.complete = true;
        } else if (const auto length = r.header("content-length")) {
            r.content_length = std::stoul(*length);
            while (buffer_.size() < r.content_length && left() > 0ms && read_some(buffer_, left()) == end::data) {
            }
            r.complete = buffer_.size() >= r.content_length;
            r.body = buffer_.substr(0, std::min(buffer_.size(), r.content_length));
            buffer_.erase(0, r.body.size());
        } else {
            read_to_end(buffer_, left());
            r.body = std::move(buffer_);
            buffer_.clear();
            r.complete = true;
        }
        return r;
    }

    int fd() const { return fd_; }

private:
    int fd_;
    int error_ = 0;
    std::string buffer_;
};

const std::string default_body = R"({"messages":[{"role":"user","content":"Hi"}]})";
const std::string stream_body = R"({"messages":[{"role":"user","content":"Hi"}],"stream": true})";

/// A chat completion request for region i with this key line ("" for none).
std::string chat_request(const fault_server& server, std::size_t i, const std::string& key_line, const std::string& body = default_body,
                         const std::string& extra = {})
{
    const std::string url = server.chat_url(i);
    const std::string target = url.substr(url.find('/', 7));
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + key_line + extra +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string key_of(const fault_server& server, std::size_t i) { return "api-key: " + server.region(i).api_key + "\r\n"; }

std::string request_for(const fault_server& server, std::size_t i, const std::string& body = default_body)
{
    return chat_request(server, i, key_of(server, i), body);
}

std::vector<loopback::region_config> two_regions()
{
    return {{.name = "eastus", .api_key = "key-east"}, {.name = "swedencentral", .api_key = "key-sweden"}};
}

/// Polls `done` every millisecond up to the timeout.
template <class F> bool eventually(F done, std::chrono::milliseconds timeout = 1000ms)
{
    const auto deadline = clock_type::now() + timeout;
    while (!done()) {
        if (clock_type::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

std::optional<client::response> ask(fault_server& server, std::size_t i, const std::string& request)
{
    client c(server.port(i));
    REQUIRE(c.connect_error() == 0);
    REQUIRE(c.send(request));
    return c.read_response();
}

}  // namespace

TEST_CASE("a healthy region answers 200 with a chat completion and its name in x-ms-region")
{
    fault_server server(two_regions());
    const auto r = ask(server, 1, request_for(server, 1));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->complete);
    CHECK(r->header("x-ms-region") == "swedencentral");
    CHECK(r->header("content-type") == "application/json");
    CHECK(r->header("apim-request-id"));
    CHECK(r->body.find(R"("object":"chat.completion")") != std::string::npos);
    CHECK(r->body.find(R"("model":"gpt-4o-mini")") != std::string::npos);
    CHECK(r->body.find("Hello from swedencentral.") != std::string::npos);
}

TEST_CASE("a request with another region's key gets 401 while the region is healthy")
{
    fault_server server(two_regions());
    const auto r = ask(server, 1, chat_request(server, 1, key_of(server, 0)));
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(r->body.find(R"("code":"401")") != std::string::npos);
    CHECK(server.stats(1).unauthorized == 1);
}

TEST_CASE("a missing key gets 401 and a bearer token is taken like an api-key")
{
    fault_server server(two_regions());
    CHECK(ask(server, 0, chat_request(server, 0, ""))->status == 401);
    CHECK(ask(server, 0, chat_request(server, 0, "Authorization: Bearer key-east\r\n"))->status == 200);
    CHECK(ask(server, 0, chat_request(server, 0, "Authorization: Bearer key-sweden\r\n"))->status == 401);
}

TEST_CASE("a wrong deployment gets 404, a wrong method 405 and a missing api-version 400")
{
    fault_server server(two_regions());
    const std::string key = key_of(server, 0);
    SECTION("wrong deployment")
    {
        const auto r = ask(server, 0, "POST /openai/deployments/gpt-5/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n" + key +
                                          "Content-Length: 2\r\n\r\n{}");
        CHECK(r->status == 404);
        CHECK(r->body.find("DeploymentNotFound") != std::string::npos);
    }
    SECTION("wrong path")
    {
        CHECK(ask(server, 0, "GET /healthz HTTP/1.1\r\n\r\n")->status == 404);
    }
    SECTION("wrong method")
    {
        const auto r = ask(server, 0, "GET /openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n" + key + "\r\n");
        CHECK(r->status == 405);
        CHECK(r->header("allow") == "POST");
    }
    SECTION("missing api-version")
    {
        const auto r = ask(server, 0, "POST /openai/deployments/gpt-4o-mini/chat/completions HTTP/1.1\r\n" + key + "Content-Length: 2\r\n\r\n{}");
        CHECK(r->status == 400);
        CHECK(r->body.find("api-version") != std::string::npos);
    }
    CHECK(eventually([&] { return server.stats(0).answered_error == 1; }));
}

TEST_CASE("unavailable answers 503 with Retry-After only when retry_after is set")
{
    fault_server server(two_regions());
    SECTION("without retry_after")
    {
        server.set(0, behaviour::unavailable);
        const auto r = ask(server, 0, request_for(server, 0));
        CHECK(r->status == 503);
        CHECK(!r->header("retry-after"));
        CHECK(r->body.find("ServiceUnavailable") != std::string::npos);
        CHECK(r->header("x-ms-region") == "eastus");
    }
    SECTION("with retry_after, rounded up to whole seconds")
    {
        server.set(0, fault{.kind = behaviour::unavailable, .retry_after = 1500ms});
        const auto r = ask(server, 0, request_for(server, 0));
        CHECK(r->status == 503);
        CHECK(r->header("Retry-After") == "2");
    }
}

TEST_CASE("throttled answers 429 with retry-after-ms and retry-after")
{
    fault_server server(two_regions());
    server.set(0, fault{.kind = behaviour::throttled, .retry_after = 1500ms});
    const auto r = ask(server, 0, request_for(server, 0));
    CHECK(r->status == 429);
    CHECK(r->header("retry-after-ms") == "1500");
    CHECK(r->header("retry-after") == "2");
    CHECK(r->body.find("Please retry after 2 seconds.") != std::string::npos);

    server.set(0, behaviour::throttled);
    const auto plain = ask(server, 0, request_for(server, 0));
    CHECK(plain->status == 429);
    CHECK(!plain->header("retry-after-ms"));
}

TEST_CASE("server_error answers 500")
{
    fault_server server(two_regions());
    server.set(1, behaviour::server_error);
    const auto r = ask(server, 1, request_for(server, 1));
    CHECK(r->status == 500);
    CHECK(r->body.find("InternalServerError") != std::string::npos);
    CHECK(ask(server, 0, request_for(server, 0))->status == 200);
}

TEST_CASE("reset closes the connection with a TCP reset after reading the request")
{
    fault_server server(two_regions());
    server.set(0, behaviour::reset);
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0)));
    std::string got;
    CHECK(c.read_to_end(got) == client::end::reset);
    CHECK(got.empty());
    CHECK(server.stats(0).faults == 1);
}

TEST_CASE("refuse closes the listener and switching back listens again on the same port")
{
    fault_server server(two_regions());
    const auto port = server.port(0);
    server.set(0, behaviour::refuse);
    CHECK(client(port).connect_error() == ECONNREFUSED);
    CHECK(client(server.port(1)).connect_error() == 0);

    server.set(0, behaviour::healthy);
    CHECK(server.port(0) == port);
    const auto r = ask(server, 0, request_for(server, 0));
    CHECK(r->status == 200);
}

TEST_CASE("refuse closes an open keep-alive connection at its next request without answering")
{
    fault_server server(two_regions());
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0)));
    REQUIRE(c.read_response()->status == 200);
    server.set(0, behaviour::refuse);
    REQUIRE(c.send(request_for(server, 0)));
    std::string got;
    CHECK(c.read_to_end(got) == client::end::eof);
    CHECK(got.empty());
}

TEST_CASE("stall with a delay sends nothing before the delay, then closes")
{
    fault_server server(two_regions());
    server.set(0, fault{.kind = behaviour::stall, .delay = 500ms});
    client c(server.port(0));
    const auto start = clock_type::now();
    REQUIRE(c.send(request_for(server, 0)));
    std::string got;
    CHECK(c.read_some(got, 100ms) == client::end::timeout);  // 400 ms of margin on a loaded machine
    CHECK(c.read_to_end(got) == client::end::eof);
    CHECK(got.empty());
    CHECK(clock_type::now() - start >= 500ms);
    CHECK(server.stats(0).faults == 1);
}

TEST_CASE("stall without a delay ends when the client closes")
{
    fault_server server(two_regions());
    server.set(0, behaviour::stall);
    {
        client c(server.port(0));
        REQUIRE(c.send(request_for(server, 0)));
        REQUIRE(eventually([&] { return server.stats(0).requests == 1; }));
        std::string got;
        CHECK(c.read_some(got, 50ms) == client::end::timeout);
    }
    server.set(0, behaviour::healthy);
    CHECK(ask(server, 0, request_for(server, 0))->status == 200);
}

TEST_CASE("slow answers like healthy after the delay")
{
    fault_server server(two_regions());
    server.set(0, fault{.kind = behaviour::slow, .delay = 100ms});
    const auto start = clock_type::now();
    const auto r = ask(server, 0, request_for(server, 0));
    CHECK(clock_type::now() - start >= 100ms);
    CHECK(r->status == 200);
    CHECK(r->body.find("Hello from eastus.") != std::string::npos);
}

TEST_CASE("cut_body sends fewer body bytes than its Content-Length, then closes")
{
    fault_server server(two_regions());
    server.set(0, behaviour::cut_body);
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0)));
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_FALSE(r->complete);
    CHECK(r->body.size() > 0);
    CHECK(r->body.size() < r->content_length);
    std::string rest;
    CHECK(c.read_to_end(rest) == client::end::eof);
    CHECK(server.stats(0).faults == 1);
    CHECK(server.stats(0).answered_ok == 0);
}

TEST_CASE("a streamed request gets a whole SSE stream ending in the DONE event")
{
    fault_server server(two_regions());
    server.set(0, fault{.kind = behaviour::healthy, .delay = 5ms});
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0, stream_body)));
    std::string got;
    CHECK(c.read_to_end(got) == client::end::eof);
    CHECK(got.starts_with("HTTP/1.1 200"));
    CHECK(got.find("Content-Type: text/event-stream") != std::string::npos);
    CHECK(got.find("Content-Length") == std::string::npos);
    std::size_t chunks = 0;
    for (std::size_t pos = 0; (pos = got.find("data: {", pos)) != std::string::npos; ++pos) ++chunks;
    CHECK(chunks == 5);
    CHECK(got.ends_with("data: [DONE]\n\n"));
    CHECK(eventually([&] { return server.stats(0).answered_ok == 1; }));
}

TEST_CASE("stream_cut ends a stream cleanly before the DONE event")
{
    fault_server server(two_regions());
    server.set(0, behaviour::stream_cut);
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0, stream_body)));
    std::string got;
    CHECK(c.read_to_end(got) == client::end::eof);
    CHECK(got.starts_with("HTTP/1.1 200"));
    std::size_t chunks = 0;
    for (std::size_t pos = 0; (pos = got.find("data: {", pos)) != std::string::npos; ++pos) ++chunks;
    CHECK(chunks == 2);
    CHECK(got.find("[DONE]") == std::string::npos);
    CHECK(server.stats(0).faults == 1);
}

TEST_CASE("stream_cut answers a request that does not stream like healthy")
{
    fault_server server(two_regions());
    server.set(0, behaviour::stream_cut);
    const auto r = ask(server, 0, request_for(server, 0));
    CHECK(r->status == 200);
    CHECK(r->complete);
    CHECK(server.stats(0).faults == 0);
}

TEST_CASE("a keep-alive connection carries several requests and Connection: close ends it")
{
    fault_server server(two_regions());
    client c(server.port(0));
    for (int k = 0; k < 3; ++k) {
        REQUIRE(c.send(request_for(server, 0)));
        const auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->header("connection") == "keep-alive");
    }
    REQUIRE(c.send(chat_request(server, 0, key_of(server, 0), default_body, "Connection: close\r\n")));
    const auto last = c.read_response();
    CHECK(last->header("connection") == "close");
    std::string rest;
    CHECK(c.read_to_end(rest) == client::end::eof);
    CHECK(server.stats(0).connections == 1);
    CHECK(server.stats(0).requests == 4);
}

TEST_CASE("two pipelined requests are both answered in order")
{
    fault_server server(two_regions());
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0) + chat_request(server, 0, "")));
    CHECK(c.read_response()->status == 200);
    CHECK(c.read_response()->status == 401);
}

TEST_CASE("a malformed request gets 400 and a chunked body 411, and the connection closes")
{
    fault_server server(two_regions());
    client c(server.port(0));
    std::string expected;
    SECTION("malformed")
    {
        REQUIRE(c.send("NONSENSE\r\n\r\n"));
        expected = "HTTP/1.1 400";
    }
    SECTION("bad Content-Length")
    {
        REQUIRE(c.send("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"));
        expected = "HTTP/1.1 400";
    }
    SECTION("chunked")
    {
        REQUIRE(c.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"));
        expected = "HTTP/1.1 411";
    }
    std::string got;
    CHECK(c.read_to_end(got) == client::end::eof);
    CHECK(got.starts_with(expected));
    CHECK(eventually([&] { return server.stats(0).answered_error == 1; }));
}

TEST_CASE("Expect: 100-continue gets an interim answer before the body")
{
    fault_server server(two_regions());
    client c(server.port(0));
    const std::string request = chat_request(server, 0, key_of(server, 0), default_body, "Expect: 100-continue\r\n");
    const std::size_t head_end = request.find("\r\n\r\n") + 4;
    REQUIRE(c.send(request.substr(0, head_end)));
    const auto interim = c.read_response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    REQUIRE(c.send(request.substr(head_end)));
    CHECK(c.read_response()->status == 200);
}

TEST_CASE("stats count requests, answers, faults and connections per region")
{
    fault_server server(two_regions());
    client c(server.port(0));
    REQUIRE(c.send(request_for(server, 0)));
    REQUIRE(c.read_response()->status == 200);
    REQUIRE(c.send(chat_request(server, 0, key_of(server, 1))));
    REQUIRE(c.read_response()->status == 401);
    server.set(0, behaviour::throttled);
    REQUIRE(c.send(request_for(server, 0)));
    REQUIRE(c.read_response()->status == 429);
    server.set(0, behaviour::reset);
    REQUIRE(c.send(request_for(server, 0)));
    std::string got;
    REQUIRE(c.read_to_end(got) == client::end::reset);

    REQUIRE(eventually([&] { return server.stats(0).faults == 1; }));
    const loopback::region_stats s = server.stats(0);
    CHECK(s.requests == 4);
    CHECK(s.answered_ok == 1);
    CHECK(s.answered_error == 2);
    CHECK(s.unauthorized == 1);
    CHECK(s.connections == 1);
    CHECK(server.stats(1).requests == 0);
}

TEST_CASE("behaviours convert to and from their names")
{
    for (behaviour b : loopback::all_behaviours) CHECK(loopback::behaviour_from_string(loopback::to_string(b)) == b);
    CHECK(std::string(loopback::to_string(behaviour::server_error)) == "server_error");
    CHECK_FALSE(loopback::behaviour_from_string("Healthy"));
    CHECK_FALSE(loopback::behaviour_from_string(""));
}

TEST_CASE("the URLs name the region's port, deployment and api-version")
{
    fault_server server({{.name = "eastus", .api_key = "k", .deployment = "gpt-4o"}});
    CHECK(server.size() == 1);
    CHECK(server.base_url(0) == "http://127.0.0.1:" + std::to_string(server.port(0)));
    CHECK(server.chat_url(0) == server.base_url(0) + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
    CHECK(server.find("eastus") == 0u);
    CHECK_FALSE(server.find("westus"));
    CHECK_THROWS_AS(server.set(1, behaviour::healthy), std::out_of_range);
}

TEST_CASE("parse_timeline reads steps, parameters, comments and blank lines")
{
    const auto steps = loopback::parse_timeline(R"(# comments and blank lines are ignored
# at      region          behaviour     parameters
0s        eastus          healthy

4s        eastus          unavailable   retry_after=2s
10s       swedencentral   throttled     retry_after=1500ms   # trailing comment
14s       eastus          stall         delay=3s retry_after=1m
14s       eastus          healthy
)",
                                                {"eastus", "swedencentral"});
    REQUIRE(steps.size() == 5);
    CHECK(steps[1].at == 4s);
    CHECK(steps[1].what.kind == behaviour::unavailable);
    CHECK(steps[1].what.retry_after == 2s);
    CHECK(steps[2].region == 1);
    CHECK(steps[2].what.retry_after == 1500ms);
    CHECK(steps[3].what.delay == 3s);
    CHECK(steps[3].what.retry_after == 1min);
    CHECK(steps[4].at == 14s);
    CHECK(loopback::parse_timeline("", {"eastus"}).empty());
}

TEST_CASE("parse_timeline names the line and the field of each error")
{
    const std::vector<std::string> regions{"eastus", "swedencentral"};
    const auto error_of = [&](const std::string& text) -> std::string {
        try {
            loopback::parse_timeline(text, regions);
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "no error";
    };
    const std::string first = "# header\n0s eastus healthy\n";  // the error is on line 3
    using Catch::Matchers::StartsWith;
    using Catch::Matchers::Contains;
    CHECK_THAT(error_of(first + "4s eastus donw\n"), StartsWith("timeline line 3: unknown behaviour 'donw' (one of: healthy, unavailable,"));
    CHECK_THAT(error_of(first + "4s westus healthy\n"),
               StartsWith("timeline line 3: unknown region 'westus' (regions: eastus, swedencentral)"));
    CHECK_THAT(error_of(first + "4x eastus healthy\n"), StartsWith("timeline line 3: bad time '4x'"));
    CHECK_THAT(error_of(first + "4 eastus healthy\n"), StartsWith("timeline line 3: bad time '4'"));
    CHECK_THAT(error_of(first + "-4s eastus healthy\n"), StartsWith("timeline line 3: bad time '-4s'"));
    CHECK_THAT(error_of(first + "4s\n"), StartsWith("timeline line 3: missing the region"));
    CHECK_THAT(error_of(first + "4s eastus\n"), StartsWith("timeline line 3: missing the behaviour"));
    CHECK_THAT(error_of(first + "4s eastus stall dealy=3s\n"), StartsWith("timeline line 3: unknown parameter 'dealy'"));
    CHECK_THAT(error_of(first + "4s eastus stall delay=3\n"), StartsWith("timeline line 3: bad duration '3' for delay"));
    CHECK_THAT(error_of(first + "4s eastus stall delay=\n"), StartsWith("timeline line 3: bad duration '' for delay"));
    CHECK_THAT(error_of(first + "4s eastus stall delay=1s delay=2s\n"), StartsWith("timeline line 3: parameter 'delay' given twice"));
    CHECK_THAT(error_of(first + "4s eastus stall now\n"), StartsWith("timeline line 3: unexpected field 'now'"));
    CHECK_THAT(error_of("2s eastus healthy\n\n1s eastus refuse\n"),
               StartsWith("timeline line 3: time '1s' comes before the previous step's '2s'") && Contains("time order"));
}

TEST_CASE("play applies the steps in order and timeline_done says when all are applied")
{
    fault_server server(two_regions());
    CHECK(server.timeline_done());
    CHECK(server.played() == 0ms);
    server.play(loopback::parse_timeline("0ms eastus unavailable\n20ms swedencentral refuse\n40ms eastus throttled retry_after=1s\n",
                                         server.region_names()));
    REQUIRE(server.wait_timeline_done(1000ms));
    CHECK(server.steps_applied() == 3);
    CHECK(server.played() >= 40ms);
    CHECK(server.get(0).kind == behaviour::throttled);
    CHECK(server.get(0).retry_after == 1s);
    CHECK(server.get(1).kind == behaviour::refuse);
    CHECK(client(server.port(1)).connect_error() == ECONNREFUSED);
}

TEST_CASE("play applies each step no earlier than its time")
{
    fault_server server(two_regions());
    server.play({{.at = 0ms, .region = 0, .what = {.kind = behaviour::server_error}},
                 {.at = 60ms, .region = 0, .what = {.kind = behaviour::unavailable}}});
    REQUIRE(eventually([&] { return server.steps_applied() >= 1; }));
    if (server.played() < 40ms) {  // always, unless this thread was descheduled for 40 ms
        CHECK(server.get(0).kind == behaviour::server_error);
        CHECK_FALSE(server.timeline_done());
    }
    REQUIRE(server.wait_timeline_done(1000ms));
    CHECK(server.played() >= 60ms);
    CHECK(server.get(0).kind == behaviour::unavailable);
}

TEST_CASE("play replaces a timeline already playing")
{
    fault_server server(two_regions());
    server.play({{.at = 10s, .region = 0, .what = {.kind = behaviour::refuse}}});
    CHECK_FALSE(server.timeline_done());
    server.play({{.at = 0ms, .region = 0, .what = {.kind = behaviour::slow}}});
    REQUIRE(server.wait_timeline_done(1000ms));
    CHECK(server.get(0).kind == behaviour::slow);
    CHECK_THROWS_AS(server.play({{.at = 0ms, .region = 2, .what = {}}}), std::out_of_range);
}

TEST_CASE("the destructor returns promptly while a connection is stalled")
{
    auto server = std::make_unique<fault_server>(two_regions());
    server->set(0, behaviour::stall);
    server->play({{.at = 10s, .region = 1, .what = {.kind = behaviour::healthy}}});
    client c(server->port(0));
    REQUIRE(c.send(request_for(*server, 0)));
    REQUIRE(eventually([&] { return server->stats(0).requests == 1; }));
    const auto start = clock_type::now();
    server.reset();
    CHECK(clock_type::now() - start < 500ms);
    std::string got;
    CHECK(c.read_to_end(got, 500ms) != client::end::timeout);
    CHECK(got.empty());
}

TEST_CASE("four threads send requests over keep-alive connections while set flips the behaviour", "[concurrency]")
{
    fault_server server(two_regions());
    constexpr int threads = 4, per_thread = 200;
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, errors{0}, broken{0};

    std::thread flipper([&] {
        const behaviour cycle[] = {behaviour::unavailable, behaviour::throttled, behaviour::server_error, behaviour::reset,
                                   behaviour::refuse,      behaviour::slow,      behaviour::cut_body,     behaviour::healthy};
        for (std::size_t k = 0; !stop.load(); ++k) {
            server.set(0, fault{.kind = cycle[k % std::size(cycle)], .retry_after = 1ms, .delay = 1ms});
            std::this_thread::sleep_for(2ms);
        }
        server.set(0, behaviour::healthy);
    });
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
        clients.emplace_back([&, t] {
            const std::size_t region = static_cast<std::size_t>(t % 2);
            const std::string request = request_for(server, region);
            std::unique_ptr<client> c;
            for (int k = 0; k < per_thread; ++k) {
                if (!c) {
                    c = std::make_unique<client>(server.port(region));
                    if (c->connect_error() != 0) {
                        ++broken;
                        c.reset();
                        continue;
                    }
                }
                const auto r = c->send(request) ? c->read_response() : std::nullopt;
                if (!r || !r->complete) {
                    ++broken;
                    c.reset();
                } else if (r->status == 200) {
                    ++ok;
                } else {
                    ++errors;
                }
            }
        });
    }
    for (auto& t : clients) t.join();
    stop = true;
    flipper.join();

    CHECK(ok + errors + broken == threads * per_thread);
    CHECK(eventually([&] { return server.stats(1).answered_ok == static_cast<std::uint64_t>(threads / 2 * per_thread); }));
    CHECK(server.stats(1).connections == 2);
    CHECK(ok >= threads / 2 * per_thread);
    CHECK(server.stats(0).requests > 0);
    // Every request read was answered or met a fault, once the server threads caught up.
    CHECK(eventually([&] {
        const auto s = server.stats(0);
        return s.requests == s.answered_ok + s.answered_error + s.faults;
    }));
}
