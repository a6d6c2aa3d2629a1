// failover: the libcurl adapter. A finished easy transfer -> verdict (the CURLcode, the HTTP
// status, the retry headers, and whether a stream was cut), and the attempt's deadline ->
// libcurl's timeouts. The only header of the library that includes <curl/curl.h>; the umbrella
// header failover.hpp does not include it. Reads every retry header with libcurl 7.83 or later
// (curl_easy_header); 7.66 to 7.82 get Retry-After alone (CURLINFO_RETRY_AFTER), older ones none.
//
// A transport returns the transfer (or a type of its own that holds one, with a
// `failover_classify` that calls curl::classify):
//
//   struct reply { failover::curl::transfer transfer; std::string body; };
//   failover::verdict failover_classify(const reply& r) noexcept {     // found by ADL
//       return failover::curl::classify(r.transfer);
//   }
//
//   failover::result<reply> r = policy([&](const failover::attempt& a) {
//       const aoai_resource& res = a.region<aoai_resource>();
//       CURL* h = this_threads_handle();                   // curl_easy_reset() between calls
//       reply out;
//       curl_easy_setopt(h, CURLOPT_URL, res.chat_url.c_str());
//       curl_easy_setopt(h, CURLOPT_HTTPHEADER, res.headers);   // api-key, content-type
//       curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
//       curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_to_string);
//       curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
//       failover::curl::apply_deadline(h, a, {.connect = 2s});  // timeouts from the deadline
//       out.transfer = failover::curl::finish(h, curl_easy_perform(h));
//       return out;
//   }, 30s);
//
// Streams. A chat completion with "stream": true answers `text/event-stream`, ending with
// `data: [DONE]`. Two things only the write callback knows go into the transfer: whether any
// of the body reached the caller (`delivered`: the attempt cannot be taken back, so the verdict
// forbids a retry), and whether the end marker came (`truncated`: a stream that closed cleanly
// without it, CURLE_OK, was cut short; every official SDK reports that as success, we report
// `reset`). An error answer (429, 503) is not the stream: keep it away from the caller, so the
// attempt stays retryable.
//
//   struct stream_sink {
//       CURL* handle;
//       void (*forward)(std::string_view chunk, void* context);   // the caller's consumer
//       void* context;
//       failover::http::event_stream_end end{};
//       bool delivered = false;
//       std::string error_body{};                                  // a 4xx/5xx answer's body
//   };
//
//   std::size_t on_stream_body(char* data, std::size_t size, std::size_t count, void* user) {
//       stream_sink& s = *static_cast<stream_sink*>(user);
//       const std::string_view chunk(data, size * count);
//       long status = 0;
//       curl_easy_getinfo(s.handle, CURLINFO_RESPONSE_CODE, &status);
//       if (status < 200 || status > 299) {                       // not the stream
//           if (s.error_body.size() < 64 * 1024) s.error_body.append(chunk);
//           return chunk.size();
//       }
//       s.end.feed(chunk);
//       s.forward(chunk, s.context);
//       s.delivered = true;
//       return chunk.size();                 // anything else stops the transfer (CURLE_WRITE_ERROR)
//   }
//
//   // in the transport:
//   stream_sink sink{h, print_tokens, &screen};
//   curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream_body);  // a function, not a lambda object
//   curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
//   failover::curl::apply_deadline(h, a, {.connect = 2s});
//   failover::curl::transfer t = failover::curl::finish(h, curl_easy_perform(h));
//   t.delivered = sink.delivered;
//   t.truncated = !sink.end.done();       // counts only when the status is a success
//   return t;
//
// Error text: `curl_easy_strerror(t.code)` is a fixed message per code, safe to log. Nothing the
// adapter produces holds a URL, a header value or a body. Keep CURLOPT_VERBOSE off in
// production: its output includes the request headers, `api-key` among them.
//
// Threads: call curl_global_init(CURL_GLOBAL_DEFAULT) once before starting threads; use one
// easy handle per thread (a handle is not thread-safe). apply_deadline sets CURLOPT_NOSIGNAL,
// without which libcurl's timeouts use SIGALRM, unsafe with threads.
#ifndef FAILOVER_ADAPTERS_CURL_HPP_INCLUDED
#define FAILOVER_ADAPTERS_CURL_HPP_INCLUDED

#include <failover/classify.hpp>
#include <failover/detail/config.hpp>
#include <failover/fault.hpp>
#include <failover/http.hpp>
#include <failover/pipeline.hpp>
#include <failover/time.hpp>

#include <curl/curl.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <optional>
#include <string_view>

namespace failover::curl {

// ---------------------------------------------------------------------------------------------
// Result codes
// ---------------------------------------------------------------------------------------------
//
// The fault of every CURLcode, and why (docs/classification.md, "libcurl result codes"):
//
//   CURLE_OK                        none
//
//   timeout
//   OPERATION_TIMEDOUT (28)         The total, connect or low-speed limit expired (the limits
//                                   apply_deadline sets); libcurl reports a connect timeout so too.
//   FTP_ACCEPT_TIMEOUT (12)         The server did not connect back in time.
//   AGAIN (81)                      Only from curl_easy_send/recv: the socket is not ready, the
//                                   EAGAIN that classify_error_code also calls a timeout.
//
//   connection: the region could not be reached, and no request reached it
//   COULDNT_RESOLVE_HOST (6)        DNS has no answer for the region's host.
//   COULDNT_RESOLVE_PROXY (5)       The proxy on the way has no DNS answer.
//   COULDNT_CONNECT (7)             Refused, unreachable, no route.
//   SSL_CONNECT_ERROR (35)          The TLS handshake failed (protocol or cipher mismatch with
//                                   the endpoint, a middlebox cutting the handshake).
//   PEER_FAILED_VERIFICATION (60)   The endpoint's certificate does not verify (expired, wrong
//   SSL_ISSUER_ERROR (83)           name, unknown issuer, pin or OCSP status failed). Judgment
//   SSL_PINNEDPUBKEYNOTMATCH (90)   call: a certificate belongs to one endpoint, so this is one
//   SSL_INVALIDCERTSTATUS (91)      region that cannot be reached safely, and failing over to
//                                   another is right. Nothing was sent, so a retry leaks nothing
//                                   and bills nothing; if every region fails so (a TLS-inspecting
//                                   proxy without its CA configured), the call ends `connection`
//                                   after the usual attempts, and the text of the code says why.
//   QUIC_CONNECT_ERROR (96)         The HTTP/3 handshake failed.
//   PROXY (97)                      The proxy handshake failed: the path to the region is broken.
//
//   reset: the exchange broke midway; the server may have seen the request
//   SEND_ERROR (55), RECV_ERROR (56)      The connection broke (ECONNRESET, EPIPE).
//   GOT_NOTHING (52)                The server closed without a byte of response.
//   PARTIAL_FILE (18)               The body ended before its Content-Length or last chunk.
//   HTTP2 (16), HTTP2_STREAM (92), HTTP3 (95)   Framing error, stream reset, GOAWAY.
//   WEIRD_SERVER_REPLY (8)          The answer does not parse as HTTP: a broken exchange (a
//                                   desynchronised reused connection, a proxy's garbage), not a
//                                   fault of the request.
//   BAD_CONTENT_ENCODING (61)       The compressed body does not decode: libcurl only offers
//                                   encodings it supports, so the body broke on the way.
//   SEND_FAIL_REWIND (65)           libcurl had to resend the body (a reused connection died)
//                                   and the read callback cannot rewind; a new attempt sends it
//                                   from the start.
//   SSL_SHUTDOWN_FAILED (80)        The TLS close failed.
//
//   rejected, no_retry: the caller stopped the transfer (judgment call). Another attempt is
//   not what the caller asked for, and the region did nothing wrong, so its health is kept out
//   of it (as classify_error_code does for operation_canceled).
//   ABORTED_BY_CALLBACK (42)        A progress, header or other callback returned "abort".
//   WRITE_ERROR (23)                The write callback took fewer bytes than it was given: its
//                                   way to stop the transfer, or the caller's sink failed.
//
//   rejected: another attempt sends the same thing and fails the same way
//   UNSUPPORTED_PROTOCOL (1), FAILED_INIT (2), URL_MALFORMAT (3), NOT_BUILT_IN (4),
//   FUNCTION_NOT_FOUND (41), BAD_FUNCTION_ARGUMENT (43), UNKNOWN_OPTION (48),
//   SETOPT_OPTION_SYNTAX (49), RECURSIVE_API_CALL (93)
//                                   Usage: a wrong URL, option or call.
//   INTERFACE_FAILED (45), SSL_ENGINE_NOTFOUND (53), SSL_ENGINE_SETFAILED (54),
//   SSL_CERTPROBLEM (58), SSL_CIPHER (59), SSL_ENGINE_INITFAILED (66), SSL_CACERT_BADFILE (77),
//   SSL_CRL_BADFILE (82), READ_ERROR (26), HTTP_POST_ERROR (34), AUTH_ERROR (94),
//   OUT_OF_MEMORY (27)              Local: the client's own configuration, files or callbacks.
//   TOO_MANY_REDIRECTS (47), FILESIZE_EXCEEDED (63), REMOTE_ACCESS_DENIED (9),
//   LOGIN_DENIED (67), SSL_CLIENTCERT (98), UPLOAD_FAILED (25), RANGE_ERROR (33),
//   BAD_DOWNLOAD_RESUME (36)        The server's settled answer to this request (a redirect loop,
//                                   a body over CURLOPT_MAXFILESIZE, credentials or a client
//                                   certificate refused: like 401/403 in the status table).
//   HTTP_RETURNED_ERROR (22)        CURLOPT_FAILONERROR and a status >= 400. Alone the code does
//                                   not say which status; classify(transfer) classifies the
//                                   status instead (a 503 stays unavailable), so use that.
//
//   every other code                rejected: FTP, TFTP, LDAP, SSH, RTSP and other protocols'
//                                   codes, obsolete numbers, codes added after 7.88. The library
//                                   cannot know they are transient (as for error codes of another
//                                   category in classify.hpp); write your own failover_classify
//                                   for those you want retried.

/// The fault of a libcurl result code: the table above.
constexpr fault classify_code(CURLcode code) noexcept {
    switch (code) {
        case CURLE_OK:
            return fault::none;

        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_FTP_ACCEPT_TIMEOUT:
        case CURLE_AGAIN:
            return fault::timeout;

        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_QUIC_CONNECT_ERROR:
        case CURLE_PROXY:
            return fault::connection;

        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_HTTP3:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_SEND_FAIL_REWIND:
        case CURLE_SSL_SHUTDOWN_FAILED:
            return fault::reset;

        default:
            return fault::rejected;
    }
}

/// True for the codes by which the caller stopped the transfer itself (CURLE_ABORTED_BY_CALLBACK,
/// CURLE_WRITE_ERROR): their verdict forbids another attempt.
constexpr bool stopped_by_caller(CURLcode code) noexcept {
    return code == CURLE_ABORTED_BY_CALLBACK || code == CURLE_WRITE_ERROR;
}

/// The verdict of a bare result code: classify_code, with no_retry when the caller stopped the
/// transfer. Prefer classify(transfer), which also reads the status and the retry headers.
constexpr verdict classify(CURLcode code) noexcept {
    return verdict{.kind = classify_code(code), .no_retry = stopped_by_caller(code)};
}

// ---------------------------------------------------------------------------------------------
// Transfers
// ---------------------------------------------------------------------------------------------

/// One finished transfer, captured right after curl_easy_perform by `finish`: what the library
/// needs to classify it, and nothing else (no URL, header value or body).
struct transfer {
    /// What curl_easy_perform returned.
    CURLcode code = CURLE_OK;
    /// CURLINFO_RESPONSE_CODE: the final response's status, 0 when no response arrived.
    long status = 0;
    /// The server's delay from retry-after-ms, x-ms-retry-after-ms or Retry-After (in that
    /// order, as failover::http::retry_after reads them); empty when none parses.
    std::optional<duration> retry_after{};
    /// The x-should-retry header: true, false, or empty when absent or neither.
    std::optional<bool> should_retry{};
    /// Part of the body already reached the caller (a stream): set by the write callback's
    /// owner; a failed verdict then carries no_retry. Default false.
    bool delivered = false;
    /// A stream that ended without its terminator (see http::event_stream_end): set by the
    /// write callback's owner; with a success status the verdict is `reset`, even though the
    /// code is CURLE_OK. Default false.
    bool truncated = false;
};

namespace detail {

// One header of the final response, by a lowercase name, for failover::http's header_lookup.
struct header_reader {
    CURL* handle;

    const char* operator()(std::string_view name) const noexcept {
#if LIBCURL_VERSION_NUM >= 0x075300
        char key[32];  // the library asks for four fixed names, the longest 19 bytes
        if (name.size() >= sizeof key) return nullptr;
        for (std::size_t i = 0; i < name.size(); ++i) key[i] = name[i];
        key[name.size()] = '\0';
        curl_header* h = nullptr;
        // Index 0: of repeated fields the first counts, as in failover::http. Request -1: the
        // last request's response, after redirects and authentication rounds.
        if (curl_easy_header(handle, key, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == nullptr) return nullptr;
        return h->value;
#else
        (void)name;
        return nullptr;
#endif
    }
};

// Whether curl_easy_header can answer at all (not before 7.83, nor in a libcurl built without
// the headers API).
inline bool headers_api_available(CURL* handle) noexcept {
#if LIBCURL_VERSION_NUM >= 0x075300
    curl_header* h = nullptr;
    return curl_easy_header(handle, "retry-after", 0, CURLH_HEADER, -1, &h) != CURLHE_NOT_BUILT_IN;
#else
    (void)handle;
    return false;
#endif
}

// A status as failover::http's tables take it, without narrowing: a long outside 0..999 is -1,
// out of range, rather than an int that happens to be a valid status.
constexpr int status_of(long status) noexcept {
    return status >= 0 && status <= 999 ? static_cast<int>(status) : -1;
}

constexpr verdict classify_transfer(const transfer& t, const http::status_map& statuses,
                                    bool honour_should_retry) noexcept {
    verdict v{};
    // With CURLOPT_FAILONERROR a status >= 400 comes back as a code; the status says more.
    const bool status_error = t.code == CURLE_HTTP_RETURNED_ERROR && t.status >= 400;
    if (t.code != CURLE_OK && !status_error) {
        v = classify(t.code);
    } else {
        v = http::detail::with_response_hints(statuses[status_of(t.status)], t.retry_after,
                                              honour_should_retry ? t.should_retry : std::nullopt);
        // Only a success can be truncated: an error answer's body (a 429's JSON) has no stream
        // terminator, and its status says more than its missing [DONE].
        if (v.ok() && t.truncated) v.kind = fault::reset;
    }
    if (t.delivered && v.failed()) v.no_retry = true;
    return v;
}

}  // namespace detail

/// Reads the status and the retry headers of `handle`'s last transfer, which returned `code`.
/// Call it right after curl_easy_perform, before the handle is reset or reused; set
/// `delivered` and `truncated` on the result yourself when streaming. A null handle gives a
/// transfer with the code alone.
inline transfer finish(CURL* handle, CURLcode code) noexcept {
    transfer t;
    t.code = code;
    if (handle == nullptr) return t;
    long status = 0;
    if (curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK) t.status = status;
    if (t.status == 0) return t;  // no response, no headers
    const detail::header_reader headers{handle};
    if (detail::headers_api_available(handle)) {
        t.retry_after = http::retry_after(headers);  // the system clock only for an HTTP-date
        t.should_retry = http::should_retry(headers);
    } else {
#if LIBCURL_VERSION_NUM >= 0x074200
        // Retry-After alone, already parsed by libcurl (seconds or a date).
        curl_off_t seconds = 0;
        if (curl_easy_getinfo(handle, CURLINFO_RETRY_AFTER, &seconds) == CURLE_OK && seconds > 0)
            t.retry_after = seconds >= curl_off_t{http::max_server_delay / std::chrono::seconds{1}}
                                ? http::max_server_delay
                                : duration{std::chrono::seconds{seconds}};
#endif
    }
    return t;
}

/// The verdict of a transfer: a curl error gives classify(code); otherwise the HTTP status with
/// its retry headers, as failover::http::classify reads them (with CURLOPT_FAILONERROR, the
/// status behind CURLE_HTTP_RETURNED_ERROR too); a success status on a truncated stream is
/// `reset`; a failure after part of the body was delivered carries no_retry.
constexpr verdict classify(const transfer& t) noexcept {
    return detail::classify_transfer(t, http::default_status_map, true);
}

/// As above, with the status table and x-should-retry choice of `options`.
constexpr verdict classify(const transfer& t, const http::classify_options& options) noexcept {
    return detail::classify_transfer(t, options.statuses, options.honour_should_retry);
}

/// A transfer through the library's customization point (found by ADL): a transport may
/// return a curl::transfer as it is.
constexpr verdict failover_classify(const transfer& t) noexcept { return classify(t); }

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

/// Per-attempt limits that apply_deadline sets along with the deadline. libcurl cannot report
/// an option's current value, so apply_deadline overwrites CURLOPT_TIMEOUT_MS and
/// CURLOPT_CONNECTTIMEOUT_MS: give your own limits here rather than setting them beforehand.
/// Every limit defaults to none.
struct timeouts {
    /// Longest time for one attempt's whole transfer (connect, request, response); each
    /// attempt then ends in time for a retry within the call's deadline.
    duration total = duration::max();
    /// Longest time to connect (DNS, TCP, TLS). libcurl's own default is 300 s.
    duration connect = duration::max();
    // No idle (inter-chunk) limit: libcurl's CURLOPT_LOW_SPEED_LIMIT/TIME compare an average
    // over a window of about five seconds, so a stream that goes silent after a chunk is noticed
    // up to five seconds late, and the bytes sent with the request count as traffic. For a
    // precise one, note the time of the last chunk in the write callback and return 1 from a
    // CURLOPT_XFERINFOFUNCTION once it is too old (that ends the transfer with
    // CURLE_ABORTED_BY_CALLBACK: set the code to CURLE_OPERATION_TIMEDOUT before classifying,
    // since an abort reads as the caller's own stop).
};

namespace detail {

// A limit in whole milliseconds for libcurl: rounded up; at least 1 ms, since 0 means "no
// timeout" to libcurl, the opposite of a spent deadline; at most INT_MAX (24.8 days), within
// what every libcurl version stores.
constexpr long timeout_ms(duration d) noexcept {
    if (d <= duration::zero()) return 1;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return ms >= INT_MAX ? long{INT_MAX} : static_cast<long>(ms);
}

constexpr duration shorter(duration a, duration b) noexcept { return a < b ? a : b; }

}  // namespace detail

/// Sets `handle`'s timeouts for an attempt with `time_left` before its deadline
/// (`duration::max()`: no deadline), bounded by `limits`:
/// CURLOPT_TIMEOUT_MS = min(time_left, limits.total), CURLOPT_CONNECTTIMEOUT_MS = the same
/// bounded by limits.connect, each at least 1 ms. Without a deadline or limit, the handle's
/// own timeouts stay as they were: libcurl's default is no total timeout at all (a stalled
/// server holds the call forever), so give one. Always sets CURLOPT_NOSIGNAL (timeouts without
/// signals, for threads; with libcurl's threaded resolver, the default on Linux, a DNS lookup
/// is still bounded).
inline void apply_time_left(CURL* handle, duration time_left, const timeouts& limits = {}) noexcept {
    if (handle == nullptr) return;
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    const duration total = detail::shorter(time_left, limits.total);
    const duration connect = detail::shorter(total, limits.connect);
    if (total != duration::max()) curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, detail::timeout_ms(total));
    if (connect != duration::max()) curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, detail::timeout_ms(connect));
}

/// Bounds `handle`'s timeouts by the time the attempt has left (apply_time_left). The time left
/// is measured on the pipeline's own time source when the attempt started, so this is also
/// right under a test's manual clock.
inline void apply_deadline(CURL* handle, const attempt& a, const timeouts& limits = {}) noexcept {
    apply_time_left(handle, a.time_left(), limits);
}

/// Bounds `handle`'s timeouts by a deadline on failover::clock (steady_clock), measured now.
inline void apply_deadline(CURL* handle, failover::deadline d, const timeouts& limits = {}) noexcept {
    apply_time_left(handle, d.is_none() ? duration::max() : d.remaining(clock::now()), limits);
}

}  // namespace failover::curl

/// A bare CURLcode through the library's customization point: `failover::classify(code)`, and a
/// transport that returns a CURLcode. CURLcode is a C enumeration of the global namespace, the
/// one place argument-dependent lookup searches for it, so this overload has to live there.
/// To map codes differently, return your own type or give the pipeline `.classify_with(fn)`.
constexpr failover::verdict failover_classify(CURLcode code) noexcept { return failover::curl::classify(code); }

#endif  // FAILOVER_ADAPTERS_CURL_HPP_INCLUDED
