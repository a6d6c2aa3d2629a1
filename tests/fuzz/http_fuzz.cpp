// libFuzzer target for failover/http.hpp. The input is fed whole to every value parser, and
// split at its first ':' into a header name and value (no ':': the whole input is a Retry-After
// value) to drive retry_after and classify through a header range and through a lookup callable.
// Invariants, each a __builtin_trap() when broken:
//   - every delay is within [0, max_server_delay];
//   - every parse is deterministic (the same input parses the same twice);
//   - a success never carries retry_after or no_retry;
//   - a range and an equivalent lookup callable give the same verdict;
//   - the header path agrees with the value parsers it is built from;
//   - a stream's end is seen alike whatever the chunking, and once seen stays seen.
#include <failover/http.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace http = failover::http;
using failover::duration;
using sys_time = std::chrono::system_clock::time_point;
using sv_pair = std::pair<std::string_view, std::string_view>;

// 2024-05-01 12:00:00.25 UTC, and the ends of the clock, where date arithmetic is most fragile.
const sys_time fixed_nows[] = {sys_time{std::chrono::seconds{1714564800}} + std::chrono::milliseconds{250},
                               sys_time::min(), sys_time::max(), sys_time{}};

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void check_delay(const std::optional<duration>& d) {
    if (d) check(*d >= duration::zero() && *d <= http::max_server_delay);
}

bool equals_ignoring_case(std::string_view a, std::string_view lowercase) {
    if (a.size() != lowercase.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lowercase[i]) return false;
    }
    return true;
}

void fuzz_value_parsers(std::string_view text) {
    const std::optional<duration> ms = http::parse_delay_ms(text);
    const std::optional<duration> seconds = http::parse_delay_seconds(text);
    check(ms == http::parse_delay_ms(text));
    check(seconds == http::parse_delay_seconds(text));
    check_delay(ms);
    check_delay(seconds);
    // Both read the same decimal syntax, in different units.
    check(ms.has_value() == seconds.has_value());
    if (ms && seconds) check(*seconds >= *ms || *seconds == http::max_server_delay);

    const std::optional<bool> should = http::parse_should_retry(text);
    check(should == http::parse_should_retry(text));

    for (const sys_time now : fixed_nows) {
        const std::optional<duration> after = http::parse_retry_after(text, now);
        check(after == http::parse_retry_after(text, now));
        check_delay(after);
        if (seconds) check(after == seconds);

        const auto now_s = std::chrono::floor<std::chrono::seconds>(now);
        const auto date = http::parse_http_date(text, now_s);
        check(date == http::parse_http_date(text, now_s));
        if (date) {
            // A date is never also a number, and a valid date always gives a delay.
            check(!seconds);
            check(after.has_value());
            if (*date <= now_s) check(after == duration::zero());
            // Four-digit years stay within 0000..9999, two-digit ones within a century of now.
            const auto s = date->time_since_epoch().count();
            check(s >= -62167219200LL - 100LL * 366 * 86400 && s <= 253402300800LL + 100LL * 366 * 86400);
        }
    }
}

void fuzz_headers(std::string_view name, std::string_view value) {
    const sv_pair as_given[] = {{name, value}};
    const sv_pair as_each[] = {{"retry-after-ms", value}, {"x-ms-retry-after-ms", value}, {"Retry-After", value},
                               {"x-should-retry", value}};
    auto lookup = [&](std::string_view asked) -> std::optional<std::string_view> {
        if (equals_ignoring_case(name, asked)) return value;
        return std::nullopt;
    };
    auto lookup_string = [&](std::string_view asked) -> std::string {
        return equals_ignoring_case(name, asked) ? std::string(value) : std::string();
    };
    const int statuses[] = {200, 204, 304, 101, 100, 400, 408, 409, 429, 500, 501, 503, 520, 0, -1, 600, 1000};

    for (const sys_time now : fixed_nows) {
        const std::optional<duration> from_range = http::retry_after(as_given, now);
        check(from_range == http::retry_after(as_given, now));
        check(from_range == http::retry_after(lookup, now));
        check(from_range == http::retry_after(lookup_string, now));
        check_delay(from_range);
        if (equals_ignoring_case(name, "retry-after-ms") || equals_ignoring_case(name, "x-ms-retry-after-ms"))
            check(from_range == http::parse_delay_ms(value));
        else if (equals_ignoring_case(name, "retry-after"))
            check(from_range == http::parse_retry_after(value, now));
        else
            check(!from_range);

        // With every header holding the same value, the milliseconds win whenever they parse.
        const std::optional<duration> all = http::retry_after(as_each, now);
        const std::optional<duration> ms = http::parse_delay_ms(value);
        check(all == (ms ? ms : http::parse_retry_after(value, now)));

        for (int status : statuses) {
            const failover::verdict v = http::classify(status, as_given, now);
            check(v == http::classify(status, as_given, now));
            check(v == http::classify(status, lookup, now));
            check(v == http::classify(status, lookup_string, now));
            check_delay(v.retry_after);
            const failover::fault base = http::classify_status(status);
            if (base == failover::fault::none) {
                check(v == failover::success);
            } else {
                check(v.retry_after == from_range);
                check(v.kind == base || (base == failover::fault::rejected && v.kind == failover::fault::unavailable));
            }
            const failover::verdict e = http::classify(status, as_each, now);
            check_delay(e.retry_after);
            if (base == failover::fault::none) check(e == failover::success);
            else check(e.no_retry == (http::parse_should_retry(value) == false));
        }
    }
    // The overload that reads the clock itself: only the bounds are predictable.
    check_delay(http::retry_after(as_given));
    check_delay(http::classify(503, as_each).retry_after);
}

}  // namespace

// The input as a response body: the end of an event stream must not depend on how the bytes
// were split (whole, byte by byte, at every split point for short inputs, in chunks whose size
// the first byte chooses), and more bytes after the end never undo it.
bool stream_end_whole(std::string_view body) {
    http::event_stream_end e;
    e.feed(body);
    return e.done();
}

void fuzz_stream_end(std::string_view body) {
    const bool whole = stream_end_whole(body);
    http::event_stream_end bytewise;
    for (char c : body) bytewise.feed(std::string_view(&c, 1));
    check(bytewise.done() == whole);
    if (body.size() <= 64) {
        for (std::size_t at = 0; at <= body.size(); ++at) {
            http::event_stream_end split;
            split.feed(body.substr(0, at));
            split.feed(body.substr(at));
            check(split.done() == whole);
        }
    }
    if (!body.empty()) {
        const std::size_t chunk = 1 + static_cast<unsigned char>(body[0]) % 7;
        http::event_stream_end chunked;
        for (std::size_t at = 0; at < body.size(); at += chunk) chunked.feed(body.substr(at, chunk));
        check(chunked.done() == whole);
    }
    if (whole) {
        http::event_stream_end more;
        more.feed(body);
        more.feed(body);
        check(more.done());
        more.reset();
        check(!more.done());
    }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    fuzz_value_parsers(text);
    fuzz_stream_end(text);
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) fuzz_headers("retry-after", text);
    else fuzz_headers(text.substr(0, colon), text.substr(colon + 1));
    return 0;
}
