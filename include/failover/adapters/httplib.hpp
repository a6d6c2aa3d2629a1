// failover: the cpp-httplib adapter. httplib::Error and httplib::Result -> verdict, and the
// client's timeouts from the attempt's deadline. Not part of failover.hpp: the only header of
// the library that includes <httplib.h>.
//
//     httplib::Client& c = clients[a.region_index()];          // one client per region (per thread)
//     failover::cpp_httplib::apply_deadline(c, a);
//     return c.Post(path, headers, body, "application/json");  // httplib::Result, classified by ADL
//
// or, to tell a read timeout from a reset (httplib reports both as Error::Read):
//
//     return failover::cpp_httplib::send(c, a, [&](httplib::Client& c) { return c.Post(...); });
//
// Build: Debian's cpp-httplib is a shared library, and its pkg-config flags
// (-DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT -DCPPHTTPLIB_BROTLI_SUPPORT) change the
// layout of its classes: every file that includes this header must be compiled with them
// (CMake: `pkg_check_modules(cpp_httplib REQUIRED IMPORTED_TARGET cpp-httplib)` and link
// `PkgConfig::cpp_httplib`). Measured against cpp-httplib 0.11.4; the table below names what
// that version reports.
//
// The namespace is failover::cpp_httplib, not failover::httplib: inside namespace failover, and
// in any code with `using namespace failover;`, a failover::httplib would hide or make ambiguous
// the library's own ::httplib.
#ifndef FAILOVER_ADAPTERS_HTTPLIB_HPP_INCLUDED
#define FAILOVER_ADAPTERS_HTTPLIB_HPP_INCLUDED

#include <failover/fault.hpp>
#include <failover/http.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <httplib.h>

#include <chrono>
#include <climits>
#include <concepts>
#include <type_traits>
#include <utility>

namespace failover::cpp_httplib {

// ---------------------------------------------------------------------------------------------
// httplib::Error
// ---------------------------------------------------------------------------------------------
//
// The fault of each error, and why. httplib sets the error of a Result that has no response;
// a Result with a response has Error::Success and is classified by its status (failover::http).
// The choices agree with the libcurl adapter's (docs/classification.md), so that one pipeline
// sees an outage alike through either stack.
//
//   Success              none        A response arrived; its status decides.
//   Unknown              rejected    httplib's fallback when a step failed without naming why
//                                    (ClientImpl::send fills it in). The library cannot know it
//                                    is transient: as for an unknown std::error_code or CURLcode.
//   Connection           connection  connect() failed (refused, unreachable) or the host did not
//                                    resolve (getaddrinfo): the region could not be reached and
//                                    nothing was sent.
//   BindIPAddress        rejected    set_interface() named an interface with no usable address:
//                                    the client's own host setup; every region fails alike.
//   Read                 reset       Anything that went wrong after the request was sent: a reset
//                                    (ECONNRESET), a close before or during the response (an
//                                    unexpected EOF, a cut body), a status line or headers httplib
//                                    cannot parse, a body that does not decompress, AND a read
//                                    timeout. See "Read timeout or reset" below for why `reset`,
//                                    and how `send` tells the timeout apart.
//   Write                reset       The request could not be sent whole: the peer closed or reset
//                                    (EPIPE, ECONNRESET), or the socket did not become writable
//                                    within the write timeout. Told apart like Read.
//   ExceedRedirectCount  rejected    A redirect loop (only with set_follow_location(true)): the
//                                    server's settled answer, like libcurl's TOO_MANY_REDIRECTS.
//   Canceled             rejected,   The caller's content receiver, response handler or progress
//                        no_retry    callback returned false: the caller stopped the call (as
//                                    std::errc::operation_canceled, CURLE_ABORTED_BY_CALLBACK).
//   SSLConnection        connection  The TLS handshake failed: the region could not be reached.
//   SSLLoadingCerts      rejected    The client could not load its CA certificates: its own files.
//   SSLServerVerification connection The server's certificate did not verify. A certificate
//                                    belongs to one endpoint: this region cannot be reached safely
//                                    and another may be; nothing was sent.
//   UnsupportedMultipartBoundaryChars rejected  The caller's multipart boundary: the request is
//                                    wrong, and nothing was sent.
//   Compression          rejected    Compressing the request body failed (set_compress(true)): on
//                                    the client's side, before anything was sent. A response body
//                                    that does not decompress is Error::Read.
//   ConnectionTimeout    timeout     connect() did not complete within the connection timeout.
//   any other value      rejected    Codes newer than 0.11.4: the library cannot know them.
//
// Read timeout or reset. In 0.11.4 every read of the response first waits for the socket with
// poll() for the read timeout, counted in whole milliseconds (sec * 1000 + usec / 1000, in
// detail::select_read of Debian's build: a 1.5 ms read timeout times out after 1.3 ms). When
// poll() times out, the read returns -1; when recv() fails (ECONNRESET), it returns -1 too; an
// EOF returns 0. Whichever it was, process_request only records Error::Read, and no errno or
// other trace survives in the Result. So from a Result alone, a stalled region and a reset
// cannot be told apart. `classify(const httplib::Result&)` says `reset`: both are region faults
// that retry and failover treat alike, and of the two wrong names `timeout` is the harmful one:
// regions' least_latency takes a timeout as a latency sample, and an instant reset would then
// make a broken region look fast.
//
// What does tell them apart is time. A read that times out has waited the whole read timeout,
// so a Read error that comes sooner than the read timeout after the request started was not a
// timeout. `send` measures the exchange and knows the timeout it set, and its `timed_result`
// says `timeout` for a Read error after at least the read timeout (and for a Write error after
// at least the write timeout), `reset` before. Measured on loopback (tests/httplib_test.cpp,
// with and without sanitizers), all Error::Read: a stall with a 150 ms read timeout after
// 150.3-150.9 ms, a reset after 0.2-2.7 ms, a close 50 ms after the request at 50.5-52.8 ms, a
// cut body after 1-1.5 ms. (A connect that never completes is Error::ConnectionTimeout, after
// 100.4-100.6 ms for a 100 ms connection timeout: no ambiguity there.) What time cannot undo: a
// reset that comes after the read timeout has passed (a slow exchange that breaks late) is
// called a timeout. Its latency is then real, and both names retry and fail over alike.

/// The fault httplib's `e` stands for (the table above; Read and Write: `reset`).
constexpr fault error_fault(::httplib::Error e) noexcept {
    using E = ::httplib::Error;
    switch (e) {
        case E::Success: return fault::none;
        case E::Connection:
        case E::SSLConnection:
        case E::SSLServerVerification: return fault::connection;
        case E::Read:
        case E::Write: return fault::reset;
        case E::ConnectionTimeout: return fault::timeout;
        case E::Unknown:
        case E::BindIPAddress:
        case E::ExceedRedirectCount:
        case E::Canceled:
        case E::SSLLoadingCerts:
        case E::UnsupportedMultipartBoundaryChars:
        case E::Compression: return fault::rejected;
    }
    return fault::rejected;
}

/// The verdict for httplib's error `e`: its fault, and `no_retry` for Canceled (the caller
/// stopped the call).
constexpr verdict classify(::httplib::Error e) noexcept {
    return verdict{.kind = error_fault(e), .no_retry = e == ::httplib::Error::Canceled};
}

/// The verdict for a Result: a transport error by the table above; a response by its status
/// and headers through failover::http (retry-after-ms, x-ms-retry-after-ms, Retry-After,
/// x-should-retry), with `options` (the library defaults unless given).
inline verdict classify(const ::httplib::Result& r, const http::classify_options& options) {
    if (r.error() != ::httplib::Error::Success) return classify(r.error());
    if (!r) return verdict{.kind = fault::rejected};  // Success without a response: not seen in 0.11.4
    return http::classify(r->status, r->headers, options);
}

/// As above, with the library's default status table.
inline verdict classify(const ::httplib::Result& r) {
    if (r.error() != ::httplib::Error::Success) return classify(r.error());
    if (!r) return verdict{.kind = fault::rejected};
    return http::classify(r->status, r->headers);
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

/// An httplib client's three timeouts. As limits for apply_deadline, `duration::max()` (the
/// default) means "no limit of mine"; in what apply_deadline returns, a timeout it left alone.
/// The same shape as failover::curl::timeouts.
struct timeouts {
    duration connect = duration::max();  ///< connect(); httplib's own default is 300 s
    duration read = duration::max();     ///< each wait for response bytes; httplib's default 5 s
    duration write = duration::max();    ///< each wait to send request bytes; httplib's default 5 s
};

namespace detail {

// The longest timeout httplib can wait: it hands poll() sec * 1000 + usec / 1000 as an int, and a
// longer one would overflow into a negative timeout, which poll() takes as "wait forever".
inline constexpr std::chrono::milliseconds max_poll_ms{INT_MAX};  // 24.8 days

// httplib waits with poll() in whole milliseconds, rounding down, and a timeout of 0 would not
// wait at all: so whole milliseconds, rounded down too (never past the deadline), at least one,
// at most max_poll_ms.
constexpr duration poll_ms(duration d) noexcept {
    if (d >= max_poll_ms) return max_poll_ms;
    const auto ms = std::chrono::floor<std::chrono::milliseconds>(d);
    return ms < std::chrono::milliseconds{1} ? duration{std::chrono::milliseconds{1}} : duration{ms};
}

// The timeout to set: the shorter of the limit and the time left; max() when both are none.
constexpr duration bounded(duration limit, duration time_left) noexcept {
    const duration d = limit < time_left ? limit : time_left;
    return d == duration::max() ? d : poll_ms(d);
}

// ::httplib::Client and ::httplib::ClientImpl (SSLClient derives from it) take chrono timeouts.
template <class C>
concept timeout_client = requires(C& c, std::chrono::milliseconds d) {
    c.set_connection_timeout(d);
    c.set_read_timeout(d);
    c.set_write_timeout(d);
};

}  // namespace detail

/// Sets the client's connection, read and write timeouts for attempt `a`: each is the shorter
/// of the attempt's time left and its limit in `limits`; one with neither (no deadline, no
/// limit) is left alone. Whole milliseconds, rounded down, at least 1 ms (httplib waits with
/// poll(), which would not wait at all for 0), at most 24.8 days (poll() takes an int). The time left is measured on the pipeline's time
/// source when the attempt started. Returns what was set (`duration::max()`: left alone).
///
/// httplib has no getters for its timeouts, so this cannot bound values the client was given
/// before: pass them as `limits`. httplib's default read timeout (5 s) ends a non-streamed chat
/// completion that takes longer before its first byte; with a deadline, the read timeout becomes
/// the time left, which is what such calls need. A client reused for a call without a deadline
/// keeps the previous attempt's timeouts unless `limits` sets them anew.
template <detail::timeout_client Client>
timeouts apply_deadline(Client& client, const attempt& a, const timeouts& limits = {}) {
    const duration left = a.time_left();  // duration::max() without a deadline
    const timeouts set{.connect = detail::bounded(limits.connect, left),
                       .read = detail::bounded(limits.read, left),
                       .write = detail::bounded(limits.write, left)};
    using ms = std::chrono::milliseconds;
    if (set.connect != duration::max()) client.set_connection_timeout(std::chrono::duration_cast<ms>(set.connect));
    if (set.read != duration::max()) client.set_read_timeout(std::chrono::duration_cast<ms>(set.read));
    if (set.write != duration::max()) client.set_write_timeout(std::chrono::duration_cast<ms>(set.write));
    return set;
}

// ---------------------------------------------------------------------------------------------
// Timed exchanges: telling a read timeout from a reset
// ---------------------------------------------------------------------------------------------

/// A Result with how long the exchange took and the timeouts it ran under: what it takes to
/// tell a read timeout from a reset (both Error::Read; see above). What `send` returns;
/// classified by ADL like a Result.
struct timed_result {
    ::httplib::Result result;
    /// From just before the request was sent until the Result came back, on failover::clock.
    duration elapsed{};
    /// The timeouts apply_deadline set; `duration::max()` is unknown (its errors stay `reset`).
    timeouts applied{};
};

namespace detail {

// A Read error after at least the read timeout, or a Write error after at least the write
// timeout, was the timeout: a wait that timed out lasted the whole timeout, in whole
// milliseconds rounded down as httplib waits.
inline verdict with_timing(verdict v, const timed_result& t) noexcept {
    const ::httplib::Error e = t.result.error();
    const duration limit = e == ::httplib::Error::Read    ? t.applied.read
                           : e == ::httplib::Error::Write ? t.applied.write
                                                         : duration::max();
    if (limit != duration::max() && t.elapsed >= std::chrono::floor<std::chrono::milliseconds>(limit))
        v.kind = fault::timeout;
    return v;
}

}  // namespace detail

/// As classify(const httplib::Result&), except that a Read or Write error that took at least
/// the read or write timeout is `timeout` (the table above, "Read timeout or reset").
inline verdict classify(const timed_result& t) { return detail::with_timing(classify(t.result), t); }

/// As above, with `options` for a response's status and headers.
inline verdict classify(const timed_result& t, const http::classify_options& options) {
    return detail::with_timing(classify(t.result, options), t);
}

/// classify(t), found by ADL: a pipeline whose transport returns timed_result needs no classifier.
inline verdict failover_classify(const timed_result& t) { return classify(t); }

/// Sends with `request(client)` (which returns the httplib::Result of Get, Post, ...) after
/// apply_deadline(client, a, limits), and times it.
template <detail::timeout_client Client, class Request>
    requires std::invocable<Request&, Client&> &&
             std::same_as<std::remove_cvref_t<std::invoke_result_t<Request&, Client&>>, ::httplib::Result>
timed_result send(Client& client, const attempt& a, Request&& request, const timeouts& limits = {}) {
    const timeouts applied = apply_deadline(client, a, limits);
    const auto start = clock::now();
    ::httplib::Result r = request(client);
    const duration elapsed = clock::now() - start;
    return timed_result{std::move(r), elapsed, applied};
}

}  // namespace failover::cpp_httplib

namespace httplib {

/// The verdict for an httplib::Result: failover::cpp_httplib::classify(r).
///
/// Declared here, in httplib's own namespace, because that is where argument-dependent lookup
/// looks for it: `failover::classify(r)` and every pipeline find it with no classifier given.
/// So one pipeline object serves a transport returning httplib::Result and, in another call, a
/// transport returning a libcurl `failover::curl::transfer` (its failover_classify is found the
/// same way): the policies, breakers and region health are shared, and nothing but the transport
/// lambda changes. To classify Results differently, give the pipeline `.classify_with(fn)`; a
/// second failover_classify(const httplib::Result&) would be a redefinition.
inline failover::verdict failover_classify(const Result& r) { return failover::cpp_httplib::classify(r); }

}  // namespace httplib

#endif  // FAILOVER_ADAPTERS_HTTPLIB_HPP_INCLUDED
