#ifndef FAILOVER_TESTS_SUPPORT_FAULT_SERVER_HPP
#define FAILOVER_TESTS_SUPPORT_FAULT_SERVER_HPP

// A loopback HTTP/1.1 server that plays several Azure OpenAI regions, each on its own port of
// 127.0.0.1, and makes any of them fail on demand. Test support for the end-to-end tests and
// the demo, not part of the library: POSIX sockets and threads, Linux or BSD.
//
//     loopback::fault_server server{{{.name = "eastus", .api_key = "k1"},
//                                    {.name = "swedencentral", .api_key = "k2"}}};
//     call(server.chat_url(0));                                  // 200 from eastus
//     server.set(0, {.kind = loopback::behaviour::throttled, .retry_after = 1500ms});
//     server.play(loopback::parse_timeline(text, {"eastus", "swedencentral"}));
//
// What a request meets, in this order:
//  1. A malformed request gets 400, a chunked body 411, and the connection closes.
//  2. Transport faults, for any request whatever its path or key: refuse (on a connection
//     opened before the switch: closed without an answer), stall, reset, cut_body.
//  3. slow waits its delay, then goes on like healthy.
//  4. The HTTP service: a path other than /openai/deployments/<deployment>/chat/completions
//     gets 404, another method on that path 405, no api-version 400; then the key
//     ("api-key: <key>" or "Authorization: Bearer <key>"; a region with an empty api_key
//     takes any) or 401; then unavailable 503, server_error 500, throttled 429; else 200,
//     as JSON or, for a body with "stream": true, as an SSE stream (stream_cut cuts it).
// So a key that belongs to another region gets 401 from a healthy region, and an error
// answer is always one the region would give to that exact request.
//
// Timeline files (parse_timeline), one step a line:
//
//     # comments (from '#' to the end of the line) and blank lines are ignored
//     # at      region          behaviour     parameters (optional, any order)
//     0s        eastus          healthy
//     4s        eastus          unavailable   retry_after=2s
//     10s       eastus          throttled     retry_after=1500ms
//     14s       eastus          stall         delay=3s
//     18s       eastus          healthy
//
// Times and durations are an integer with a unit: ms, s or m (minutes). Times count from
// play() and must not go back. Parameters: retry_after=<duration>, delay=<duration> (see fault).
//
// Threads: one listener thread per region (poll on its socket, a wake-up pipe and the stop
// pipe), one thread per connection, one for a playing timeline. Every wait polls the stop
// pipe, which the destructor makes readable for good, so no thread outlives the server.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

namespace loopback {

/// What a region does with the requests it gets.
enum class behaviour {
    healthy,       ///< 200 with a chat completion (JSON), or a whole SSE stream for "stream": true
    unavailable,   ///< 503 with a JSON error; with retry_after > 0 also "Retry-After: <s rounded up>"
    server_error,  ///< 500 with a JSON error
    throttled,     ///< 429 with a JSON error; with retry_after > 0 "retry-after-ms" and "retry-after"
    stall,         ///< reads the request, answers nothing; closes after delay (0: never)
    reset,         ///< reads the request, then closes with a TCP RST
    refuse,        ///< no listener: connect() gets ECONNREFUSED; any other behaviour listens again, same port
    slow,          ///< answers like healthy, after delay
    cut_body,      ///< 200 with the whole body's Content-Length, about half the body, then a close
    stream_cut,    ///< streams: 2 chunks then an orderly close before "data: [DONE]"; else like healthy
};

/// Every behaviour, in declaration order.
inline constexpr behaviour all_behaviours[] = {
    behaviour::healthy, behaviour::unavailable, behaviour::server_error, behaviour::throttled,
    behaviour::stall,   behaviour::reset,       behaviour::refuse,       behaviour::slow,
    behaviour::cut_body, behaviour::stream_cut,
};

/// The enumerator's name ("healthy", "unavailable", ...).
inline const char* to_string(behaviour b) noexcept
{
    switch (b) {
    case behaviour::healthy: return "healthy";
    case behaviour::unavailable: return "unavailable";
    case behaviour::server_error: return "server_error";
    case behaviour::throttled: return "throttled";
    case behaviour::stall: return "stall";
    case behaviour::reset: return "reset";
    case behaviour::refuse: return "refuse";
    case behaviour::slow: return "slow";
    case behaviour::cut_body: return "cut_body";
    case behaviour::stream_cut: return "stream_cut";
    }
    return "unknown";
}

/// The behaviour named exactly as its enumerator, or nullopt.
inline std::optional<behaviour> behaviour_from_string(std::string_view name) noexcept
{
    for (behaviour b : all_behaviours)
        if (name == to_string(b)) return b;
    return std::nullopt;
}

/// What a region does now.
struct fault {
    behaviour kind = behaviour::healthy;
    std::chrono::milliseconds retry_after{0};  ///< unavailable / throttled headers (0: no header)
    std::chrono::milliseconds delay{0};        ///< slow: before answering; stall: before closing (0: never); streams: between chunks
};

/// One simulated region.
struct region_config {
    std::string name;                        ///< e.g. "eastus"; sent back in "x-ms-region"
    std::string api_key;                     ///< required as "api-key" or "Authorization: Bearer"; empty: any key
    std::string deployment = "gpt-4o-mini";  ///< the path is /openai/deployments/<deployment>/chat/completions
};

/// Counts since start, per region. An answer counts once its last byte is sent, so a client
/// may read it a moment before the count moves.
struct region_stats {
    std::uint64_t requests = 0;        ///< complete requests read
    std::uint64_t answered_ok = 0;     ///< 200 answers fully sent (whole JSON or whole stream)
    std::uint64_t answered_error = 0;  ///< 4xx/5xx answers sent (400 for malformed requests included)
    std::uint64_t unauthorized = 0;    ///< 401s (wrong or missing key)
    std::uint64_t faults = 0;          ///< requests met with stall, reset, cut_body, stream_cut, or refuse on an open connection
    std::uint64_t connections = 0;     ///< connections accepted
};

/// One line of a timeline.
struct step {
    std::chrono::milliseconds at{0};  ///< from the start of play()
    std::size_t region = 0;
    fault what;
};

/// "1500ms", "2s" or "1m"; nullopt for anything else (no sign, no bare number, at most 12 digits).
inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept
{
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 12) return std::nullopt;
    long long value = 0;
    std::from_chars(text.data(), text.data() + digits, value);
    const std::string_view unit = text.substr(digits);
    if (unit == "ms") return std::chrono::milliseconds(value);
    if (unit == "s") return std::chrono::milliseconds(value * 1000);
    if (unit == "m") return std::chrono::milliseconds(value * 60'000);
    return std::nullopt;
}

namespace detail {

inline std::string join(const std::vector<std::string>& names)
{
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) out += ", ";
        out += n;
    }
    return out;
}

inline std::string behaviour_names()
{
    std::string out;
    for (behaviour b : all_behaviours) {
        if (!out.empty()) out += ", ";
        out += to_string(b);
    }
    return out;
}

}  // namespace detail

/// Parses a timeline (format in the comment at the top of this file). Throws
/// std::invalid_argument naming the line and the field, e.g.
/// "timeline line 3: unknown behaviour 'donw' (one of: healthy, unavailable, ...)".
inline std::vector<step> parse_timeline(std::string_view text, const std::vector<std::string>& region_names)
{
    std::vector<step> steps;
    std::size_t line_no = 0;
    std::string previous_at;
    while (!text.empty()) {
        ++line_no;
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);

        std::vector<std::string_view> fields;
        for (std::size_t i = 0; i < line.size();) {
            const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
            while (i < line.size() && blank(line[i])) ++i;
            const std::size_t begin = i;
            while (i < line.size() && !blank(line[i])) ++i;
            if (i > begin) fields.push_back(line.substr(begin, i - begin));
        }
        if (fields.empty()) continue;

        const auto fail = [&](const std::string& what) {
            throw std::invalid_argument("timeline line " + std::to_string(line_no) + ": " + what);
        };
        const auto quoted = [](std::string_view s) { return "'" + std::string(s) + "'"; };
        const char* expected = " (expected: <at> <region> <behaviour> [retry_after=<duration>] [delay=<duration>])";

        step s;
        const auto at = parse_duration(fields[0]);
        if (!at) fail("bad time " + quoted(fields[0]) + " (an integer with ms, s or m, e.g. 1500ms)");
        s.at = *at;
        if (!steps.empty() && s.at < steps.back().at)
            fail("time " + quoted(fields[0]) + " comes before the previous step's " + quoted(previous_at) +
                 " (steps must be in time order)");
        previous_at = std::string(fields[0]);

        if (fields.size() < 2) fail(std::string("missing the region") + expected);
        const auto region = std::find(region_names.begin(), region_names.end(), fields[1]);
        if (region == region_names.end())
            fail("unknown region " + quoted(fields[1]) + " (regions: " + detail::join(region_names) + ")");
        s.region = static_cast<std::size_t>(region - region_names.begin());

        if (fields.size() < 3) fail(std::string("missing the behaviour") + expected);
        const auto kind = behaviour_from_string(fields[2]);
        if (!kind) fail("unknown behaviour " + quoted(fields[2]) + " (one of: " + detail::behaviour_names() + ")");
        s.what.kind = *kind;

        bool seen_retry_after = false, seen_delay = false;
        for (std::size_t f = 3; f < fields.size(); ++f) {
            const std::size_t eq = fields[f].find('=');
            if (eq == std::string_view::npos)
                fail("unexpected field " + quoted(fields[f]) + " (parameters are name=value: retry_after, delay)");
            const std::string_view name = fields[f].substr(0, eq), value = fields[f].substr(eq + 1);
            std::chrono::milliseconds* target = nullptr;
            bool* seen = nullptr;
            if (name == "retry_after") {
                target = &s.what.retry_after;
                seen = &seen_retry_after;
            } else if (name == "delay") {
                target = &s.what.delay;
                seen = &seen_delay;
            } else {
                fail("unknown parameter " + quoted(name) + " (one of: retry_after, delay)");
            }
            if (*seen) fail("parameter " + quoted(name) + " given twice");
            *seen = true;
            const auto d = parse_duration(value);
            if (!d) fail("bad duration " + quoted(value) + " for " + std::string(name) + " (an integer with ms, s or m)");
            *target = *d;
        }
        steps.push_back(s);
    }
    return steps;
}

namespace detail {

using clock = std::chrono::steady_clock;

[[noreturn]] inline void throw_errno(int error, const std::string& what)
{
    throw std::system_error(error, std::generic_category(), what);
}

/// Owns a file descriptor.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept
    {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset(int fd = -1) noexcept
    {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

inline void make_nonblocking_cloexec(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        throw_errno(errno, "fcntl");
}

struct pipe_pair {
    unique_fd read, write;
};

inline pipe_pair make_pipe()
{
    int fds[2];
    if (::pipe(fds) != 0) throw_errno(errno, "pipe");
    pipe_pair p{unique_fd(fds[0]), unique_fd(fds[1])};
    make_nonblocking_cloexec(fds[0]);
    make_nonblocking_cloexec(fds[1]);
    return p;
}

/// A non-blocking socket listening on 127.0.0.1:port (0: an ephemeral port).
inline unique_fd make_listener(std::uint16_t port)
{
    unique_fd fd(::socket(AF_INET, SOCK_STREAM, 0));
    if (!fd) throw_errno(errno, "socket");
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        throw_errno(errno, "setsockopt(SO_REUSEADDR)");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw_errno(errno, "bind 127.0.0.1:" + std::to_string(port));
    if (::listen(fd.get(), SOMAXCONN) != 0) throw_errno(errno, "listen");
    make_nonblocking_cloexec(fd.get());
    return fd;
}

inline std::uint16_t local_port(int fd)
{
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno(errno, "getsockname");
    return ntohs(addr.sin_port);
}

enum class wait_result { ready, stopped, timed_out };

/// Waits until fd (ignored when negative) has `events`, the stop pipe is readable, or the deadline.
inline wait_result wait(int fd, short events, int stop_fd, std::optional<clock::time_point> deadline = {})
{
    for (;;) {
        int timeout = -1;
        if (deadline) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - clock::now()).count();
            if (left <= 0) return wait_result::timed_out;
            timeout = static_cast<int>(std::min<long long>(left, std::numeric_limits<int>::max()));
        }
        pollfd fds[2] = {{stop_fd, POLLIN, 0}, {fd, events, 0}};
        const int n = ::poll(fds, fd >= 0 ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) return wait_result::stopped;  // poll cannot wait at all: give up
        if (n > 0 && fds[0].revents != 0) return wait_result::stopped;
        if (n > 0) return wait_result::ready;  // POLLHUP and POLLERR too: the next recv/send says what
    }
}

/// Bytes sent on a non-blocking socket until all are out; false when the peer or the stop pipe ends it.
inline bool send_all(int fd, std::string_view data, int stop_fd)
{
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait(fd, POLLOUT, stop_fd) != wait_result::ready) return false;
        } else {
            return false;
        }
    }
    return true;
}

enum class recv_result { data, eof, stopped, failed };

/// Appends what arrives next on a non-blocking socket to `in`.
inline recv_result recv_some(int fd, std::string& in, int stop_fd)
{
    char buffer[16 * 1024];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            in.append(buffer, static_cast<std::size_t>(n));
            return recv_result::data;
        }
        if (n == 0) return recv_result::eof;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return recv_result::failed;
        if (wait(fd, POLLIN, stop_fd) != wait_result::ready) return recv_result::stopped;
    }
}

inline char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

inline std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// True when the comma-separated header value holds `token` (case-insensitive).
inline bool has_token(std::string_view value, std::string_view token) noexcept
{
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

inline void append_json_string(std::string& out, std::string_view s)
{
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
        } else {
            out += c;
        }
    }
    out += '"';
}

inline std::string error_body(std::string_view code, std::string_view message)
{
    std::string body = R"({"error":{"code":)";
    append_json_string(body, code);
    body += R"(,"message":)";
    append_json_string(body, message);
    body += "}}";
    return body;
}

inline long long whole_seconds_up(std::chrono::milliseconds d) noexcept { return (d.count() + 999) / 1000; }

/// A request as read off the wire.
struct request {
    std::string method, path, query;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;
    bool keep_alive = true;

    const std::string* header(std::string_view lower_name) const noexcept
    {
        for (const auto& [name, value] : headers)
            if (name == lower_name) return &value;
        return nullptr;
    }

    /// The value of a query parameter, or nullopt.
    std::optional<std::string_view> query_param(std::string_view name) const noexcept
    {
        std::string_view q = query;
        while (!q.empty()) {
            const std::size_t amp = q.find('&');
            const std::string_view pair = q.substr(0, amp);
            const std::size_t eq = pair.find('=');
            if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
            if (amp == std::string_view::npos) break;
            q.remove_prefix(amp + 1);
        }
        return std::nullopt;
    }

    bool streamed() const noexcept
    {
        return body.find("\"stream\":true") != std::string::npos || body.find("\"stream\": true") != std::string::npos;
    }
};

enum class parse_result { ok, bad_request, length_required };

/// The request line and headers (`head` without the blank line); the body is left to the caller.
inline parse_result parse_head(std::string_view head, request& req, std::size_t& content_length)
{
    content_length = 0;
    const std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);

    const std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2 || sp1 == 0) return parse_result::bad_request;
    req.method = std::string(line.substr(0, sp1));
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1), version = line.substr(sp2 + 1);
    if (target.empty() || target.front() != '/' || target.find(' ') != std::string_view::npos) return parse_result::bad_request;
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return parse_result::bad_request;
    const std::size_t question = target.find('?');
    req.path = std::string(target.substr(0, question));
    req.query = question == std::string_view::npos ? std::string{} : std::string(target.substr(question + 1));

    bool have_length = false, chunked = false;
    while (!head.empty()) {
        const std::size_t end = head.find("\r\n");
        const std::string_view h = head.substr(0, end);
        head = end == std::string_view::npos ? std::string_view{} : head.substr(end + 2);
        const std::size_t colon = h.find(':');
        if (colon == std::string_view::npos || colon == 0 || h.front() == ' ' || h.front() == '\t') return parse_result::bad_request;
        std::string name(h.substr(0, colon));
        for (char& c : name) {
            if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x21) return parse_result::bad_request;
            c = lower(c);
        }
        const std::string_view value = trim(h.substr(colon + 1));
        if (name == "content-length") {
            std::size_t n = 0;
            const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size()) return parse_result::bad_request;
            if (have_length && n != content_length) return parse_result::bad_request;
            have_length = true;
            content_length = n;
        } else if (name == "transfer-encoding") {
            chunked = true;
        }
        req.headers.emplace_back(std::move(name), std::string(value));
    }
    if (chunked) return parse_result::length_required;
    const std::string* connection = req.header("connection");
    req.keep_alive = version == "HTTP/1.1" ? !(connection && has_token(*connection, "close"))
                                           : connection && has_token(*connection, "keep-alive");
    return parse_result::ok;
}

/// Counts of one region; relaxed atomics, read while running.
struct counters {
    std::atomic<std::uint64_t> requests{0}, answered_ok{0}, answered_error{0}, unauthorized{0}, faults{0}, connections{0};

    region_stats snapshot() const noexcept
    {
        constexpr auto r = std::memory_order_relaxed;
        return {requests.load(r), answered_ok.load(r), answered_error.load(r), unauthorized.load(r), faults.load(r),
                connections.load(r)};
    }
};

inline void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

/// What the server's threads share.
struct shared_state {
    int stop_fd = -1;  // readable once the server stops
    std::atomic<std::uint64_t> next_id{1};
};

/// One region: its configuration, its fault, its listener thread.
struct region_state {
    region_config config;
    std::string chat_path;
    std::uint16_t port = 0;
    counters stats;

    mutable std::mutex mutex;
    std::condition_variable listen_changed;
    fault current;                       // guarded by mutex
    std::uint64_t listen_requested = 0;  // guarded by mutex: set() asks the listener thread to (un)listen
    std::uint64_t listen_applied = 0;    // guarded by mutex: the last request the listener thread applied
    std::error_code listen_error;        // guarded by mutex: why re-listening failed
    bool listener_gone = false;          // guarded by mutex: the listener thread has ended

    unique_fd listener;  // touched only by the listener thread once it runs
    pipe_pair wake;
    std::thread thread;

    fault get() const
    {
        std::lock_guard lock(mutex);
        return current;
    }
};

/// Serves one connection, request after request, until it closes.
class session {
public:
    session(region_state& region, shared_state& shared, unique_fd fd) noexcept
        : region_(region), shared_(shared), fd_(std::move(fd))
    {
    }

    void run()
    {
        for (;;) {
            request req;
            const read_result read = read_request(req);
            if (read == read_result::closed) return;
            if (read != read_result::ok) return reject(read);
            bump(region_.stats.requests);
            if (!answer(req, region_.get())) return;
        }
    }

private:
    enum class read_result { ok, closed, bad_request, length_required, too_large, head_too_large };

    static constexpr std::size_t max_head = 64 * 1024;
    static constexpr std::size_t max_body = 16 * 1024 * 1024;

    read_result read_request(request& req)
    {
        std::size_t head_end;
        for (;;) {
            while (in_.starts_with("\r\n")) in_.erase(0, 2);  // stray line ends between requests
            head_end = in_.find("\r\n\r\n");
            if (head_end != std::string::npos) break;
            if (in_.size() > max_head) return read_result::head_too_large;
            if (recv_some(fd_.get(), in_, shared_.stop_fd) != recv_result::data) return read_result::closed;
        }
        if (head_end > max_head) return read_result::head_too_large;
        std::size_t length = 0;
        switch (parse_head(std::string_view(in_).substr(0, head_end), req, length)) {
        case parse_result::ok: break;
        case parse_result::bad_request: return read_result::bad_request;
        case parse_result::length_required: return read_result::length_required;
        }
        if (length > max_body) return read_result::too_large;
        const std::size_t body_begin = head_end + 4;
        if (in_.size() < body_begin + length) {
            const std::string* expect = req.header("expect");
            if (expect && iequals(*expect, "100-continue") && !send("HTTP/1.1 100 Continue\r\n\r\n")) return read_result::closed;
        }
        while (in_.size() < body_begin + length)
            if (recv_some(fd_.get(), in_, shared_.stop_fd) != recv_result::data) return read_result::closed;
        req.body = in_.substr(body_begin, length);
        in_.erase(0, body_begin + length);
        return read_result::ok;
    }

    void reject(read_result why)
    {
        int status = 400;
        const char* reason = "Bad Request";
        std::string body = error_body("BadRequest", "Malformed HTTP request.");
        if (why == read_result::length_required) {
            status = 411, reason = "Length Required";
            body = error_body("LengthRequired", "Chunked request bodies are not supported: send a Content-Length.");
        } else if (why == read_result::too_large) {
            status = 413, reason = "Content Too Large";
            body = error_body("RequestEntityTooLarge", "The request body is too large.");
        } else if (why == read_result::head_too_large) {
            status = 431, reason = "Request Header Fields Too Large";
            body = error_body("RequestHeaderFieldsTooLarge", "The request headers are too large.");
        }
        if (send(json_response(status, reason, body, false, {}))) bump(region_.stats.answered_error);
        close_gracefully();
    }

    /// Answers one request; true when the connection stays open for the next.
    bool answer(const request& req, const fault& f)
    {
        switch (f.kind) {
        case behaviour::refuse:  // a connection opened before the listener closed
            bump(region_.stats.faults);
            close_gracefully();
            return false;
        case behaviour::stall:
            bump(region_.stats.faults);
            stall(f.delay);
            return false;
        case behaviour::reset:
            bump(region_.stats.faults);
            reset();
            return false;
        case behaviour::cut_body: {
            bump(region_.stats.faults);
            const std::string body = success_body(next_id());
            const std::string whole = json_response(200, "OK", body, req.keep_alive, {});
            if (send(std::string_view(whole).substr(0, whole.size() - body.size() + body.size() / 2))) close_gracefully();
            return false;
        }
        case behaviour::slow:
            if (f.delay.count() > 0 && !pause(f.delay)) return false;
            break;
        default: break;
        }

        if (req.path != region_.chat_path) {
            const bool deployment_path = req.path.starts_with("/openai/deployments/") && req.path.ends_with("/chat/completions");
            return send_error(req, 404, "Not Found",
                              deployment_path ? error_body("DeploymentNotFound",
                                                           "The API deployment for this resource does not exist. If you created the "
                                                           "deployment within the last 5 minutes, please wait a moment and try again.")
                                              : error_body("404", "Resource not found"),
                              {});
        }
        if (req.method != "POST")
            return send_error(req, 405, "Method Not Allowed", error_body("405", "Method not allowed: chat completions take POST."),
                              "Allow: POST\r\n");
        const auto api_version = req.query_param("api-version");
        if (!api_version || api_version->empty())
            return send_error(req, 400, "Bad Request",
                              error_body("MissingApiVersionParameter",
                                         "The api-version query parameter (?api-version=) is required for all requests."),
                              {});
        if (!key_ok(req)) {
            bump(region_.stats.unauthorized);
            return send_error(req, 401, "Unauthorized",
                              error_body("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                                                "provide a valid key for an active subscription and use a correct regional API "
                                                "endpoint for your resource."),
                              {});
        }

        switch (f.kind) {
        case behaviour::unavailable:
            return send_error(req, 503, "Service Unavailable",
                              error_body("ServiceUnavailable",
                                         "The service is temporarily unable to process your request. Please try again later."),
                              f.retry_after.count() > 0
                                  ? "Retry-After: " + std::to_string(whole_seconds_up(f.retry_after)) + "\r\n"
                                  : std::string{});
        case behaviour::server_error:
            return send_error(req, 500, "Internal Server Error",
                              error_body("InternalServerError",
                                         "The server had an error while processing your request. Sorry about that!"),
                              {});
        case behaviour::throttled: {
            const bool hint = f.retry_after.count() > 0;
            const std::string message =
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version " + std::string(*api_version) +
                " have exceeded token rate limit of your current OpenAI S0 pricing tier. " +
                (hint ? "Please retry after " + std::to_string(whole_seconds_up(f.retry_after)) + " seconds. " : "Please retry later. ") +
                "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.";
            return send_error(req, 429, "Too Many Requests", error_body("429", message),
                              hint ? "retry-after-ms: " + std::to_string(f.retry_after.count()) + "\r\nretry-after: " +
                                         std::to_string(whole_seconds_up(f.retry_after)) + "\r\n"
                                   : std::string{});
        }
        default: break;
        }

        if (req.streamed()) {
            stream(f, f.kind == behaviour::stream_cut);
            return false;
        }
        const bool sent = send(json_response(200, "OK", success_body(next_id()), req.keep_alive, {}));
        if (sent) bump(region_.stats.answered_ok);
        return finish(sent, req.keep_alive);
    }

    bool key_ok(const request& req) const
    {
        const std::string& key = region_.config.api_key;
        if (key.empty()) return true;
        if (const std::string* h = req.header("api-key"); h && *h == key) return true;
        if (const std::string* h = req.header("authorization"); h && h->size() > 7 && iequals(std::string_view(*h).substr(0, 7), "bearer ")) {
            if (trim(std::string_view(*h).substr(7)) == key) return true;
        }
        return false;
    }

    bool send_error(const request& req, int status, const char* reason, const std::string& body, const std::string& extra)
    {
        const bool sent = send(json_response(status, reason, body, req.keep_alive, extra));
        if (sent) bump(region_.stats.answered_error);
        return finish(sent, req.keep_alive);
    }

    bool finish(bool sent, bool keep_alive)
    {
        if (sent && keep_alive) return true;
        if (sent) close_gracefully();
        return false;
    }

    std::uint64_t next_id() noexcept { return shared_.next_id.fetch_add(1, std::memory_order_relaxed); }

    /// The status line and the headers every answer carries.
    std::string head(int status, const char* reason)
    {
        char request_id[48];
        std::snprintf(request_id, sizeof request_id, "%08x-0000-4000-8000-%012llx", static_cast<unsigned>(region_.port),
                      static_cast<unsigned long long>(next_id()));
        std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
        out += "x-ms-region: " + region_.config.name + "\r\n";
        out += "apim-request-id: ";
        out += request_id;
        out += "\r\n";
        return out;
    }

    std::string json_response(int status, const char* reason, const std::string& body, bool keep_alive, const std::string& extra)
    {
        std::string out = head(status, reason);
        out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        out += extra;
        out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
        out += body;
        return out;
    }

    std::string common_fields(std::uint64_t id, std::string_view object) const
    {
        std::string out = R"({"id":"chatcmpl-)" + std::to_string(id) + R"(","object":")";
        out += object;
        out += R"(","created":)" + std::to_string(static_cast<long long>(std::time(nullptr))) + R"(,"model":)";
        append_json_string(out, region_.config.deployment);
        return out;
    }

    std::string success_body(std::uint64_t id) const
    {
        std::string out = common_fields(id, "chat.completion");
        out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)";
        append_json_string(out, "Hello from " + region_.config.name + ".");
        out += R"(},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}})";
        return out;
    }

    /// 200 with an SSE stream of five chunks and "data: [DONE]"; `cut`: two chunks, then an orderly close.
    void stream(const fault& f, bool cut)
    {
        if (cut) bump(region_.stats.faults);
        const std::uint64_t id = next_id();
        std::string start = head(200, "OK");
        start += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
        if (!send(start)) return;
        const std::string pieces[] = {"Hello", " from", " ", region_.config.name, "."};
        for (std::size_t k = 0; k < std::size(pieces); ++k) {
            if (cut && k == 2) return close_gracefully();
            if (k > 0 && f.delay.count() > 0 && !pause(f.delay)) return;
            std::string chunk = "data: " + common_fields(id, "chat.completion.chunk");
            chunk += R"(,"choices":[{"index":0,"delta":{"content":)";
            append_json_string(chunk, pieces[k]);
            chunk += k + 1 == std::size(pieces) ? R"(},"finish_reason":"stop"}]})" : R"(},"finish_reason":null}]})";
            chunk += "\n\n";
            if (!send(chunk)) return;
        }
        if (!send("data: [DONE]\n\n")) return;
        bump(region_.stats.answered_ok);
        close_gracefully();
    }

    bool send(std::string_view data) { return send_all(fd_.get(), data, shared_.stop_fd); }

    /// False when the server stops first.
    bool pause(std::chrono::milliseconds d) { return wait(-1, 0, shared_.stop_fd, clock::now() + d) == wait_result::timed_out; }

    /// Sends FIN, then reads until the client closes too (at most a second), so unread bytes
    /// from the client cannot turn the close into a reset.
    void close_gracefully()
    {
        ::shutdown(fd_.get(), SHUT_WR);
        const auto deadline = clock::now() + std::chrono::seconds(1);
        while (wait(fd_.get(), POLLIN, shared_.stop_fd, deadline) == wait_result::ready) {
            char sink[4096];
            const ssize_t n = ::recv(fd_.get(), sink, sizeof sink, 0);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) break;
        }
        fd_.reset();
    }

    /// Holds the connection without answering until the delay (0: forever), the client's close or the stop.
    void stall(std::chrono::milliseconds delay)
    {
        std::optional<clock::time_point> deadline;
        if (delay.count() > 0) deadline = clock::now() + delay;
        for (;;) {
            switch (wait(fd_.get(), POLLIN, shared_.stop_fd, deadline)) {
            case wait_result::timed_out: return close_gracefully();
            case wait_result::stopped: return;
            case wait_result::ready: break;
            }
            char sink[4096];
            const ssize_t n = ::recv(fd_.get(), sink, sizeof sink, 0);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) return;
        }
    }

    /// SO_LINGER {1, 0}: close() sends RST instead of FIN.
    void reset()
    {
        const linger abort{1, 0};
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        fd_.reset();
    }

    region_state& region_;
    shared_state& shared_;
    unique_fd fd_;
    std::string in_;  // bytes read and not yet consumed (the start of the next request)
};

/// A connection's thread; `done` tells the listener thread it can be joined.
struct connection_slot {
    std::thread thread;
    std::atomic<bool> done{false};
};

/// Closes or reopens the listener as the region's fault asks, and tells set().
inline void apply_listen_state(region_state& r)
{
    std::lock_guard lock(r.mutex);
    const bool listening = r.current.kind != behaviour::refuse;
    if (listening && !r.listener) {
        try {
            r.listener = make_listener(r.port);
            r.listen_error.clear();
        } catch (const std::system_error& e) {
            r.listen_error = e.code();
        }
    } else if (!listening && r.listener) {
        r.listener.reset();
    }
    r.listen_applied = r.listen_requested;
    r.listen_changed.notify_all();
}

inline void accept_all(region_state& r, shared_state& shared, std::list<std::unique_ptr<connection_slot>>& connections)
{
    for (;;) {
        const int raw = ::accept(r.listener.get(), nullptr, nullptr);
        if (raw < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;  // EAGAIN: none left; anything else (EMFILE ...): try again on the next wake-up
        }
        unique_fd fd(raw);
        bump(r.stats.connections);
        try {
            make_nonblocking_cloexec(fd.get());
            const int one = 1;
            ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto slot = std::make_unique<connection_slot>();
            slot->thread = std::thread([&r, &shared, s = slot.get(), fd = std::move(fd)]() mutable {
                try {
                    session(r, shared, std::move(fd)).run();
                } catch (...) {  // out of memory: drop the connection, keep the server
                }
                s->done.store(true, std::memory_order_release);
            });
            connections.push_back(std::move(slot));
        } catch (const std::exception&) {  // no thread or no fcntl: the connection closes unanswered
        }
    }
}

inline void reap(std::list<std::unique_ptr<connection_slot>>& connections)
{
    for (auto it = connections.begin(); it != connections.end();) {
        if ((*it)->done.load(std::memory_order_acquire)) {
            (*it)->thread.join();
            it = connections.erase(it);
        } else {
            ++it;
        }
    }
}

inline void run_listener(region_state& r, shared_state& shared)
{
    std::list<std::unique_ptr<connection_slot>> connections;
    for (;;) {
        pollfd fds[3] = {{shared.stop_fd, POLLIN, 0}, {r.wake.read.get(), POLLIN, 0}, {r.listener.get(), POLLIN, 0}};
        // With connections open, wake up now and then to join the finished ones.
        const int n = ::poll(fds, 3, connections.empty() ? -1 : 200);
        if (n < 0 && errno != EINTR) break;
        if (n > 0 && fds[0].revents != 0) break;
        if (n > 0 && fds[1].revents != 0) {
            char drain[64];
            while (::read(r.wake.read.get(), drain, sizeof drain) > 0) {
            }
            apply_listen_state(r);
        }
        if (n > 0 && fds[2].revents != 0 && r.listener) accept_all(r, shared, connections);
        reap(connections);
    }
    r.listener.reset();
    for (auto& c : connections) c->thread.join();
    std::lock_guard lock(r.mutex);
    r.listener_gone = true;
    r.listen_changed.notify_all();
}

}  // namespace detail

/// Several regions on loopback ports, each healthy until told otherwise.
class fault_server {
public:
    /// Starts one listener per region on 127.0.0.1 with an ephemeral port, all healthy.
    /// Throws std::system_error when a socket cannot be set up, std::invalid_argument for an
    /// empty name or deployment or one with spaces or control characters.
    explicit fault_server(std::vector<region_config> regions)
    {
        const auto printable = [](const std::string& s) {
            return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
        };
        stop_ = detail::make_pipe();
        shared_.stop_fd = stop_.read.get();
        regions_.reserve(regions.size());
        for (auto& config : regions) {
            if (!printable(config.name) || !printable(config.deployment))
                throw std::invalid_argument("fault_server: region name and deployment must be non-empty printable ASCII without spaces");
            auto r = std::make_unique<detail::region_state>();
            r->chat_path = "/openai/deployments/" + config.deployment + "/chat/completions";
            r->config = std::move(config);
            r->listener = detail::make_listener(0);
            r->port = detail::local_port(r->listener.get());
            r->wake = detail::make_pipe();
            regions_.push_back(std::move(r));
        }
        try {
            for (auto& r : regions_) r->thread = std::thread(detail::run_listener, std::ref(*r), std::ref(shared_));
        } catch (...) {
            stop_listeners();
            throw;
        }
    }

    /// Stops everything (listeners, open connections, the timeline) and joins every thread.
    ~fault_server()
    {
        stop_timeline();
        stop_listeners();
    }

    fault_server(const fault_server&) = delete;
    fault_server& operator=(const fault_server&) = delete;

    std::size_t size() const noexcept { return regions_.size(); }
    const region_config& region(std::size_t i) const { return regions_.at(i)->config; }
    std::uint16_t port(std::size_t i) const { return regions_.at(i)->port; }

    /// The regions' names, in order (what parse_timeline takes).
    std::vector<std::string> region_names() const
    {
        std::vector<std::string> names;
        for (const auto& r : regions_) names.push_back(r->config.name);
        return names;
    }

    /// The index of the region with this name, or nullopt.
    std::optional<std::size_t> find(std::string_view name) const noexcept
    {
        for (std::size_t i = 0; i < regions_.size(); ++i)
            if (regions_[i]->config.name == name) return i;
        return std::nullopt;
    }

    /// "http://127.0.0.1:<port>"
    std::string base_url(std::size_t i) const { return "http://127.0.0.1:" + std::to_string(port(i)); }

    /// base_url + "/openai/deployments/<deployment>/chat/completions?api-version=2024-10-21"
    std::string chat_url(std::size_t i) const { return base_url(i) + regions_.at(i)->chat_path + "?api-version=2024-10-21"; }

    /// Thread-safe; applies to requests read from now on (a stalled connection stays stalled).
    /// Switching to or from refuse returns once the listener is closed or listening again;
    /// throws std::system_error (and the region stays refusing) when the port cannot be bound again.
    void set(std::size_t i, fault f)
    {
        detail::region_state& r = *regions_.at(i);
        std::unique_lock lock(r.mutex);
        const bool was_listening = r.current.kind != behaviour::refuse, listening = f.kind != behaviour::refuse;
        r.current = f;
        if (listening == was_listening) return;
        const std::uint64_t request = ++r.listen_requested;
        [[maybe_unused]] const auto written = ::write(r.wake.write.get(), "w", 1);  // a full pipe is awake anyway
        r.listen_changed.wait(lock, [&] { return r.listen_applied >= request || r.listener_gone; });
        if (listening && r.listen_error && r.listen_applied >= request) {
            r.current.kind = behaviour::refuse;
            throw std::system_error(r.listen_error, "fault_server: listening again on 127.0.0.1:" + std::to_string(r.port));
        }
    }

    /// set(i, {.kind = b}).
    void set(std::size_t i, behaviour b) { set(i, fault{.kind = b}); }

    fault get(std::size_t i) const { return regions_.at(i)->get(); }
    region_stats stats(std::size_t i) const { return regions_.at(i)->stats.snapshot(); }

    /// Plays a timeline on a background thread: each step is applied at start + step.at, in the
    /// given order. Replaces a timeline already playing. Throws std::out_of_range for a step
    /// naming a region that does not exist. A step whose set() throws is skipped.
    void play(std::vector<step> steps)
    {
        for (const step& s : steps)
            if (s.region >= regions_.size())
                throw std::out_of_range("fault_server::play: step for region " + std::to_string(s.region) + " of " +
                                        std::to_string(regions_.size()));
        std::lock_guard play_lock(play_mutex_);
        stop_timeline_locked();
        {
            std::lock_guard lock(timeline_mutex_);
            steps_ = std::move(steps);
            started_ = detail::clock::now();
            playing_ = true;
            cancel_ = false;
            applied_ = 0;
        }
        timeline_ = std::thread([this] { run_timeline(); });
    }

    /// Stops the timeline playing, if any; the steps applied so far stay applied.
    void stop_timeline()
    {
        std::lock_guard play_lock(play_mutex_);
        stop_timeline_locked();
    }

    /// Time since play() was called (zero before).
    std::chrono::milliseconds played() const
    {
        std::lock_guard lock(timeline_mutex_);
        if (!playing_) return std::chrono::milliseconds(0);
        return std::chrono::duration_cast<std::chrono::milliseconds>(detail::clock::now() - started_);
    }

    /// True once every step of the timeline has been applied; true before any play().
    bool timeline_done() const
    {
        std::lock_guard lock(timeline_mutex_);
        return applied_ == steps_.size();
    }

    /// How many steps of the timeline have been applied.
    std::size_t steps_applied() const
    {
        std::lock_guard lock(timeline_mutex_);
        return applied_;
    }

    /// Waits until timeline_done() or the timeout; returns timeline_done().
    bool wait_timeline_done(std::chrono::milliseconds timeout) const
    {
        std::unique_lock lock(timeline_mutex_);
        return timeline_changed_.wait_for(lock, timeout, [&] { return applied_ == steps_.size(); });
    }

private:
    void run_timeline()
    {
        std::unique_lock lock(timeline_mutex_);
        for (std::size_t k = 0; k < steps_.size(); ++k) {
            if (timeline_changed_.wait_until(lock, started_ + steps_[k].at, [&] { return cancel_; })) return;
            const step s = steps_[k];
            lock.unlock();
            try {
                set(s.region, s.what);
            } catch (const std::exception&) {  // the port was taken meanwhile: the region keeps refusing
            }
            lock.lock();
            ++applied_;
            timeline_changed_.notify_all();
        }
    }

    void stop_timeline_locked()
    {
        {
            std::lock_guard lock(timeline_mutex_);
            cancel_ = true;
        }
        timeline_changed_.notify_all();
        if (timeline_.joinable()) timeline_.join();
    }

    void stop_listeners() noexcept
    {
        [[maybe_unused]] const auto written = ::write(stop_.write.get(), "s", 1);
        for (auto& r : regions_)
            if (r->thread.joinable()) r->thread.join();
    }

    detail::pipe_pair stop_;
    detail::shared_state shared_;
    std::vector<std::unique_ptr<detail::region_state>> regions_;

    std::mutex play_mutex_;  // play() and stop_timeline() from several threads
    mutable std::mutex timeline_mutex_;
    mutable std::condition_variable timeline_changed_;
    std::vector<step> steps_;     // guarded by timeline_mutex_
    detail::clock::time_point started_;  // guarded by timeline_mutex_
    bool playing_ = false;        // guarded by timeline_mutex_
    bool cancel_ = false;         // guarded by timeline_mutex_
    std::size_t applied_ = 0;     // guarded by timeline_mutex_
    std::thread timeline_;
};

}  // namespace loopback

#endif
