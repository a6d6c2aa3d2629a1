// failover: HTTP. A status code plus response headers -> verdict, without any HTTP library:
// the status table, Retry-After / retry-after-ms / x-ms-retry-after-ms parsing, x-should-retry.
#ifndef FAILOVER_HTTP_HPP_INCLUDED
#define FAILOVER_HTTP_HPP_INCLUDED

#include <failover/detail/config.hpp>
#include <failover/errors.hpp>
#include <failover/fault.hpp>
#include <failover/time.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>  // also declares std::begin / std::end, which the header ranges need
#include <type_traits>
#include <utility>

namespace failover::http {

// ---------------------------------------------------------------------------------------------
// Status table
// ---------------------------------------------------------------------------------------------
//
// The default fault of every status, and why (docs/classification.md has the long version and
// the comparison with openai-node, openai-python and @azure/core-rest-pipeline):
//
//   100, 102-199  unavailable  An interim response reported as the final one means the exchange
//                              never completed: the region's answer is unusable.
//   101           none         Switching Protocols is how a WebSocket upgrade (the realtime API)
//                              succeeds.
//   2xx           none
//   3xx           none         Redirects are the HTTP stack's business; a 3xx that reaches the
//                              classifier is the caller's choice not to follow it, an answer from
//                              a working region that a retry would only repeat.
//   408           timeout      The server gave up waiting for the request: a timeout, seen from
//                              its side.
//   429           throttled    With or without Retry-After (Azure does not always send one).
//   other 4xx     rejected     The request itself is wrong; another attempt sends the same bytes.
//                              409 included: openai-node/python retry it ("lock timeouts"),
//                              @azure/core-rest-pipeline does not; a conflict that clears on its
//                              own is not a region fault. 401/403/404 stay rejected although
//                              each region has its own key and deployments: override them when
//                              one region's credentials can be revoked alone.
//   500 502 503 504 unavailable  The region said it cannot serve now.
//   501 505       rejected     Not Implemented / HTTP Version Not Supported describe the request
//                              (method, protocol version); every region answers the same.
//                              @azure/core-rest-pipeline agrees; the OpenAI clients retry all 5xx.
//   506 510       rejected     Variant Also Negotiates / Not Extended are configuration errors
//                              that repeat deterministically.
//   507 508 511   unavailable  Insufficient Storage and Loop Detected are server-side states;
//                              Network Authentication Required is a captive portal on the path.
//                              None is caused by the request, and another region may not have it.
//   other 5xx     unavailable  Unassigned codes are server or proxy failures: CDN 520-530
//                              (origin down, unreachable, timed out), 598/599 proxy timeouts.
//   < 100, > 599  unavailable  Not an HTTP status: the answer is unusable. Many stacks report 0
//                              when no response arrived at all; classify such results from the
//                              transport error instead when you have it. Changeable with
//                              status_map::set_out_of_range.

/// Maps each HTTP status to a fault. Default-constructed it holds the library defaults
/// (documented above); `set` / `set_range` / `set_out_of_range` override entries, also in
/// constant expressions: `constexpr auto m = status_map{}.set(409, fault::unavailable);`.
class status_map {
public:
    /// The lowest status the table holds; anything below is out of range.
    static constexpr int first_status = 100;
    /// The highest status the table holds; anything above is out of range.
    static constexpr int last_status = 599;

    /// The library defaults.
    constexpr status_map() noexcept {
        for (int s = first_status; s <= last_status; ++s) {
            fault f = fault::unavailable;
            if (s < 200) f = s == 101 ? fault::none : fault::unavailable;
            else if (s < 400) f = fault::none;
            else if (s < 500) f = fault::rejected;
            table_[s - first_status] = f;
        }
        table_[408 - first_status] = fault::timeout;
        table_[429 - first_status] = fault::throttled;
        table_[501 - first_status] = fault::rejected;
        table_[505 - first_status] = fault::rejected;
        table_[506 - first_status] = fault::rejected;
        table_[510 - first_status] = fault::rejected;
    }

    /// The fault for `status`; a status outside [first_status, last_status] gives the
    /// out-of-range fault (default `unavailable`).
    constexpr fault operator[](int status) const noexcept {
        return in_table(status) ? table_[status - first_status] : out_of_range_;
    }

    /// Overrides one status. A status outside 100..599 or an invalid fault is a config_error
    /// (a compile error in a constant expression).
    constexpr status_map& set(int status, fault f) {
        if (!in_table(status)) bad_status("set: status must be in 100..599", status, status);
        return set_range(status, status, f);
    }

    /// Overrides every status in [first, last]. Requires 100 <= first <= last <= 599.
    constexpr status_map& set_range(int first, int last, fault f) {
        if (!in_table(first) || !in_table(last) || first > last)
            bad_status("set_range: requires 100 <= first <= last <= 599", first, last);
        check_fault(f);
        for (int s = first; s <= last; ++s) table_[s - first_status] = f;
        return *this;
    }

    /// Sets the fault of every status outside 100..599 (default `unavailable`).
    constexpr status_map& set_out_of_range(fault f) {
        check_fault(f);
        out_of_range_ = f;
        return *this;
    }

    /// Two maps are equal when every status, and the out-of-range fault, map alike.
    friend constexpr bool operator==(const status_map&, const status_map&) noexcept = default;

private:
    static constexpr bool in_table(int status) noexcept {
        return status >= first_status && status <= last_status;
    }
    static constexpr void check_fault(fault f) {
        if (static_cast<unsigned>(f) >= fault_count)
            failover::detail::throw_config_error("failover::http::status_map: the fault is not a failover::fault enumerator");
    }
    [[noreturn]] static void bad_status(const char* what, int first, int last) {
        detail::config_message message("failover::http::status_map::");
        message.append(what);
        if (first == last) message.got(first);
        else message.got(first, last);
        detail::throw_config_error(message);
    }

    fault table_[last_status - first_status + 1]{};
    fault out_of_range_ = fault::unavailable;
};

/// The library's default status table (see the comment block above status_map).
inline constexpr status_map default_status_map{};

/// The fault an HTTP status stands for, from `map` (the defaults unless given).
constexpr fault classify_status(int status, const status_map& map = default_status_map) noexcept {
    return map[status];
}

// ---------------------------------------------------------------------------------------------
// Server-directed delays
// ---------------------------------------------------------------------------------------------

/// The longest server-directed delay the parsers return; anything longer is clamped to it.
/// Azure OpenAI sends `retry-after: 86400` when a daily quota is spent, so 24 h keeps that value
/// exact. The bound keeps every later sum with it far from overflow, and to a retry policy whose
/// own `max_retry_after` defaults to 60 s it still reads as "do not wait for this region".
inline constexpr duration max_server_delay = std::chrono::hours{24};

namespace detail {

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr char to_lower_ascii(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// HTTP OWS (SP / HTAB) only: CR, LF, NUL and other bytes are not whitespace in a field value.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
    std::size_t b = 0;
    std::size_t e = s.size();
    while (b < e && is_ows(s[b])) ++b;
    while (e > b && is_ows(s[e - 1])) --e;
    return std::string_view{s.data() + b, e - b};
}

// `name` equals `lowercase`, ignoring ASCII case in `name` (HTTP field names are ASCII).
constexpr bool equals_lowercase(std::string_view name, std::string_view lowercase) noexcept {
    if (name.size() != lowercase.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (to_lower_ascii(name[i]) != lowercase[i]) return false;
    return true;
}

// A strict decimal "1*DIGIT [ '.' *DIGIT ]" or "'.' 1*DIGIT" between optional OWS, in units of
// `unit_ns` nanoseconds. Digits beyond nanosecond precision are checked and then dropped.
// The whole part stops accumulating once past the cap, so no digit string can overflow.
constexpr std::optional<duration> parse_decimal(std::string_view text, std::int64_t unit_ns) noexcept {
    const std::string_view s = trim_ows(text);
    const std::int64_t cap_units = max_server_delay.count() / unit_ns;
    std::size_t i = 0;
    std::size_t digits = 0;
    std::int64_t whole = 0;
    bool over = false;
    for (; i < s.size() && is_digit(s[i]); ++i, ++digits) {
        if (over) continue;
        whole = whole * 10 + (s[i] - '0');
        over = whole > cap_units;
    }
    std::int64_t fraction_ns = 0;
    if (i < s.size() && s[i] == '.') {
        std::int64_t scale = unit_ns;
        for (++i; i < s.size() && is_digit(s[i]); ++i, ++digits) {
            scale /= 10;
            fraction_ns += (s[i] - '0') * scale;
        }
    }
    if (i != s.size() || digits == 0) return std::nullopt;
    if (over) return max_server_delay;
    const duration d{whole * unit_ns + fraction_ns};
    return d > max_server_delay ? max_server_delay : d;
}

}  // namespace detail

/// Parses a millisecond count ("1500", "1500.5", "0") as sent in `retry-after-ms` and
/// `x-ms-retry-after-ms`. Strict: digits with at most one '.', optional SP/HTAB around; a sign,
/// exponent, "inf", trailing junk or an empty value gives nullopt. Values above
/// max_server_delay are clamped to it. Fractions are kept to the nanosecond.
constexpr std::optional<duration> parse_delay_ms(std::string_view value) noexcept {
    return detail::parse_decimal(value, 1'000'000);
}

/// Parses delta-seconds ("120") as sent in `Retry-After`; a decimal fraction ("1.5") is also
/// accepted, as the OpenAI clients do. Same strictness and clamping as parse_delay_ms.
constexpr std::optional<duration> parse_delay_seconds(std::string_view value) noexcept {
    return detail::parse_decimal(value, 1'000'000'000);
}

namespace detail {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, int m, int d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

// The Gregorian year containing day `z` since 1970-01-01 (the inverse of the above, year only).
constexpr std::int64_t year_from_days(std::int64_t z) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10 ? 1 : 0);
}

constexpr bool is_leap_year(std::int64_t y) noexcept {
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr int days_in_month(std::int64_t y, int m) noexcept {
    constexpr int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The fields of an HTTP-date, before an RFC 850 two-digit year is resolved against "now".
struct date_fields {
    int year = 0;
    bool two_digit_year = false;
    int month = 0;  // 1..12
    int day = 0;    // 1..31, checked against the month once the year is known
    int hour = 0;
    int minute = 0;
    int second = 0;
};

// Names are case-sensitive: RFC 9110 spells them with %s"..." (the weekday is checked for
// spelling only; it is not cross-checked against the date, as the RFC lets recipients ignore it).
inline constexpr std::string_view short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
inline constexpr std::string_view long_days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                 "Friday", "Saturday", "Sunday"};
inline constexpr std::string_view month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

class date_reader {
public:
    constexpr explicit date_reader(std::string_view text) noexcept : text_(text) {}

    constexpr bool literal(std::string_view t) noexcept {
        if (text_.size() - pos_ < t.size()) return false;
        for (std::size_t i = 0; i < t.size(); ++i)
            if (text_[pos_ + i] != t[i]) return false;
        pos_ += t.size();
        return true;
    }

    // Exactly `count` digits.
    constexpr bool number(std::size_t count, int& out) noexcept {
        if (text_.size() - pos_ < count) return false;
        int v = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const char c = text_[pos_ + i];
            if (!is_digit(c)) return false;
            v = v * 10 + (c - '0');
        }
        pos_ += count;
        out = v;
        return true;
    }

    // One of `names`; `index` is 0-based.
    template <std::size_t N>
    constexpr bool one_of(const std::string_view (&names)[N], int& index) noexcept {
        for (std::size_t i = 0; i < N; ++i) {
            if (literal(names[i])) {
                index = static_cast<int>(i);
                return true;
            }
        }
        return false;
    }

    constexpr bool month(int& out) noexcept {
        int index = 0;
        if (!one_of(month_names, index)) return false;
        out = index + 1;
        return true;
    }

    // time-of-day = hour ":" minute ":" second; a leap second (60) is allowed.
    constexpr bool time_of_day(date_fields& f) noexcept {
        return number(2, f.hour) && literal(":") && number(2, f.minute) && literal(":") &&
               number(2, f.second) && f.hour <= 23 && f.minute <= 59 && f.second <= 60;
    }

    constexpr bool at_end() const noexcept { return pos_ == text_.size(); }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
constexpr bool parse_imf_fixdate(std::string_view s, date_fields& f) noexcept {
    date_reader r{s};
    int weekday = 0;
    return r.one_of(short_days, weekday) && r.literal(", ") && r.number(2, f.day) && r.literal(" ") &&
           r.month(f.month) && r.literal(" ") && r.number(4, f.year) && r.literal(" ") &&
           r.time_of_day(f) && r.literal(" GMT") && r.at_end();
}

// Obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
constexpr bool parse_rfc850_date(std::string_view s, date_fields& f) noexcept {
    date_reader r{s};
    int weekday = 0;
    f.two_digit_year = true;
    return r.one_of(long_days, weekday) && r.literal(", ") && r.number(2, f.day) && r.literal("-") &&
           r.month(f.month) && r.literal("-") && r.number(2, f.year) && r.literal(" ") &&
           r.time_of_day(f) && r.literal(" GMT") && r.at_end();
}

// Obsolete asctime: "Sun Nov  6 08:49:37 1994" (the day is two digits or SP and one digit).
constexpr bool parse_asctime_date(std::string_view s, date_fields& f) noexcept {
    date_reader r{s};
    int weekday = 0;
    if (!(r.one_of(short_days, weekday) && r.literal(" ") && r.month(f.month) && r.literal(" ")))
        return false;
    const bool day_ok = r.literal(" ") ? r.number(1, f.day) : r.number(2, f.day);
    return day_ok && r.literal(" ") && r.time_of_day(f) && r.literal(" ") && r.number(4, f.year) &&
           r.at_end();
}

// Any of the three HTTP-date forms, between optional OWS. The day is range-checked against the
// month here when the year is known, else (RFC 850, February 29) once the year is resolved.
constexpr std::optional<date_fields> parse_date_fields(std::string_view text) noexcept {
    const std::string_view s = trim_ows(text);
    using form = bool (*)(std::string_view, date_fields&) noexcept;
    const form forms[] = {parse_imf_fixdate, parse_rfc850_date, parse_asctime_date};
    for (form parse : forms) {
        date_fields f{};
        if (!parse(s, f)) continue;
        const int max_day = f.two_digit_year && f.month == 2 ? 29 : days_in_month(f.year, f.month);
        if (f.day < 1 || f.day > max_day) return std::nullopt;
        return f;
    }
    return std::nullopt;
}

// Seconds since the epoch of `f`, resolving a two-digit year against `now_s` by RFC 9110
// §5.6.7: a year more than 50 years ahead is the most recent past year with the same last two
// digits. Years are compared, not instants, so the window around the current year Y is
// (Y-50, Y+50]; a year that would fall below it moves up a century so the window stays 100 years.
constexpr std::optional<std::int64_t> resolve_date(const date_fields& f, std::int64_t now_s) noexcept {
    std::int64_t year = f.year;
    if (f.two_digit_year) {
        const std::int64_t now_year = year_from_days(floor_div(now_s, 86400));
        year = now_year - (now_year % 100 + 100) % 100 + f.year;
        if (year > now_year + 50) year -= 100;
        else if (year <= now_year - 50) year += 100;
        if (f.day > days_in_month(year, f.month)) return std::nullopt;
    }
    return days_from_civil(year, f.month, f.day) * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
}

// `t` split into whole seconds (floored) and the remainder in [0, 1 s), without overflow
// even at time_point::min(), where std::chrono::floor's round trip through seconds would.
constexpr std::int64_t floor_seconds(std::chrono::system_clock::time_point t, duration& remainder) noexcept {
    using std::chrono::seconds;
    const auto since = t.time_since_epoch();
    seconds whole = std::chrono::duration_cast<seconds>(since);
    auto rest = since - whole;
    if (rest < decltype(rest)::zero()) {
        whole -= seconds{1};
        rest += seconds{1};
    }
    remainder = std::chrono::duration_cast<duration>(rest);
    return whole.count();
}

// The delay a Retry-After value asks for. `now` is a callable giving the current
// system_clock time, called only when the value is an HTTP-date.
template <class Now>
constexpr std::optional<duration> parse_retry_after_with(std::string_view value, Now&& now) {
    if (auto d = parse_delay_seconds(value)) return d;
    const std::optional<date_fields> f = parse_date_fields(value);
    if (!f) return std::nullopt;
    duration now_fraction{};
    const std::int64_t now_s = floor_seconds(now(), now_fraction);
    const std::optional<std::int64_t> at = resolve_date(*f, now_s);
    if (!at) return std::nullopt;
    const std::int64_t ahead = *at - now_s;  // both far inside int64: |years| <= 9999 and ~292 on the clock
    if (ahead <= 0) return duration::zero();
    if (ahead > max_server_delay / std::chrono::seconds{1}) return max_server_delay;
    const duration d = std::chrono::seconds{ahead} - now_fraction;
    return d > max_server_delay ? max_server_delay : d;
}

}  // namespace detail

/// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 asks recipients to accept:
/// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" (its
/// two-digit year resolved against `now`) and asctime "Sun Nov  6 08:49:37 1994". Weekday and
/// month names must be spelled as the RFC does (case-sensitive); the weekday is not checked
/// against the date; day, hour (0-23), minute and second (0-60) are range-checked.
constexpr std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view value,
                                                                   std::chrono::sys_seconds now) noexcept {
    const std::optional<detail::date_fields> f = detail::parse_date_fields(value);
    if (!f) return std::nullopt;
    const std::optional<std::int64_t> at = detail::resolve_date(*f, now.time_since_epoch().count());
    if (!at) return std::nullopt;
    return std::chrono::sys_seconds{std::chrono::seconds{*at}};
}

/// Parses a `Retry-After` value: delta-seconds (fraction allowed) or an HTTP-date. A date at or
/// before `now` gives zero; anything beyond max_server_delay is clamped to it.
constexpr std::optional<duration> parse_retry_after(std::string_view value,
                                                    std::chrono::system_clock::time_point now) noexcept {
    return detail::parse_retry_after_with(value, [now]() noexcept { return now; });
}

/// Parses an `x-should-retry` value: "true" or "false", ASCII case-insensitive, OWS trimmed.
/// Anything else is nullopt (the header is then ignored).
constexpr std::optional<bool> parse_should_retry(std::string_view value) noexcept {
    const std::string_view s = detail::trim_ows(value);
    if (detail::equals_lowercase(s, "true")) return true;
    if (detail::equals_lowercase(s, "false")) return false;
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Where headers come from
// ---------------------------------------------------------------------------------------------

namespace detail {

template <class T>
concept string_like = std::convertible_to<T, std::string_view>;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// A field with .first / .second (std::pair, a map's value_type).
template <class E>
concept member_pair_field = requires(const E& e) {
    { e.first } -> string_like;
    { e.second } -> string_like;
};

// A field read with get<0> / get<1> found by argument-dependent lookup (std::tuple, std::array).
template <class E>
concept tuple_field = requires(const E& e) {
    { get<0>(e) } -> string_like;
    { get<1>(e) } -> string_like;
};

template <class E>
concept header_field = member_pair_field<E> || tuple_field<E>;

template <class R>
concept lookup_result =
    string_like<R> || (is_optional<std::remove_cvref_t<R>>::value &&
                       string_like<const typename std::remove_cvref_t<R>::value_type&>);

// A null `const char*` is absent rather than the undefined behaviour string_view(nullptr) is.
template <class T>
constexpr std::optional<std::string_view> view_of(const T& v) noexcept {
    if constexpr (std::is_convertible_v<const T&, const char*>) {
        const char* p = v;
        if (p == nullptr) return std::nullopt;
        return std::string_view{p};
    } else {
        const std::string_view s = v;
        return s;
    }
}

template <class E>
constexpr decltype(auto) field_name(const E& e) noexcept {
    if constexpr (member_pair_field<E>) return (e.first);
    else return get<0>(e);
}

template <class E>
constexpr decltype(auto) field_value(const E& e) noexcept {
    if constexpr (member_pair_field<E>) return (e.second);
    else return get<1>(e);
}

}  // namespace detail

/// A range of name/value fields: std::map / std::multimap / std::unordered_map of strings,
/// std::vector<std::pair<std::string, std::string>>, a C array or std::initializer_list of
/// pairs of std::string_view, a vector of std::tuple or std::array<std::string_view, 2>...
/// Each element has `.first`/`.second` or `get<0>`/`get<1>`, each convertible to
/// std::string_view. Names are matched ASCII case-insensitively; of several fields with one
/// name the first counts.
template <class H>
concept header_range = requires(const H& h) {
    { std::begin(h) != std::end(h) } -> std::convertible_to<bool>;
    requires detail::header_field<std::remove_cvref_t<decltype(*std::begin(h))>>;
};

/// A lookup callable: `h(std::string_view lowercase_name)` returns the value of that header as
/// std::optional<string-like> (nullopt: absent), `const char*` (nullptr: absent), or
/// std::string_view / std::string (empty: absent). The library asks with lowercase names
/// ("retry-after-ms"); matching them case-insensitively is the callable's job.
template <class H>
concept header_lookup = requires(const H& h, std::string_view name) {
    { h(name) } -> detail::lookup_result;
};

/// What `retry_after` and `classify` accept as response headers: a header_range or a
/// header_lookup. A compile error naming this concept means the argument is neither: pass the
/// headers as a range of name/value pairs, or a lambda taking std::string_view that returns
/// std::optional<std::string_view> (or std::string, const char*...).
template <class H>
concept header_source = header_range<H> || header_lookup<H>;

/// What a braced list of headers becomes, so that
/// `classify(429, {{"retry-after-ms", "1500"}})` needs no type spelled out (every function below
/// defaults its header type to it).
using header_list = std::initializer_list<std::pair<std::string_view, std::string_view>>;

namespace detail {

// Iterating a range is taken not to throw; a lookup may (one returning std::string allocates).
template <class H>
inline constexpr bool nothrow_source = header_range<H> || std::is_nothrow_invocable_v<const H&, std::string_view>;

// Finds the header `lowercase_name` and returns parse(value), or an empty result when it is
// absent. The value is parsed where it lives: a std::string returned by a lookup dies after.
template <class H, class Parse>
constexpr auto find_parsed(const H& headers, std::string_view lowercase_name, Parse&& parse)
    noexcept(nothrow_source<H>) -> decltype(parse(std::string_view{})) {
    if constexpr (header_range<H>) {
        for (const auto& field : headers) {
            const std::optional<std::string_view> name = view_of(field_name(field));
            if (!name || !equals_lowercase(*name, lowercase_name)) continue;
            const std::optional<std::string_view> value = view_of(field_value(field));
            if (!value) return {};
            return parse(*value);
        }
        return {};
    } else {
        decltype(auto) found = headers(lowercase_name);
        using result = std::remove_cvref_t<decltype(found)>;
        if constexpr (is_optional<result>::value) {
            if (!found.has_value()) return {};
            const std::optional<std::string_view> value = view_of(*found);
            if (!value) return {};
            return parse(*value);
        } else {
            const std::optional<std::string_view> value = view_of(found);
            if (!value || value->empty()) return {};
            return parse(*value);
        }
    }
}

template <class H, class Now>
constexpr std::optional<duration> retry_after_with(const H& headers, Now&& now) noexcept(nothrow_source<H>) {
    if (auto d = find_parsed(headers, "retry-after-ms", parse_delay_ms)) return d;
    if (auto d = find_parsed(headers, "x-ms-retry-after-ms", parse_delay_ms)) return d;
    return find_parsed(headers, "retry-after",
                       [&](std::string_view v) { return parse_retry_after_with(v, now); });
}

inline std::chrono::system_clock::time_point system_now() noexcept {
    return std::chrono::system_clock::now();
}

}  // namespace detail

/// The server-directed delay in `headers`, or nullopt. Precedence: `retry-after-ms`, then
/// `x-ms-retry-after-ms` (milliseconds, fraction allowed), then `Retry-After` (seconds or an
/// HTTP-date, measured from `now`). The first header whose value parses wins: a garbage
/// `retry-after-ms` falls through to the next, a valid `retry-after-ms: 0` shadows
/// `Retry-After` (as openai-node >= 7.5 and @azure/core-rest-pipeline do). Never negative,
/// never above max_server_delay.
template <header_source H = header_list>
constexpr std::optional<duration> retry_after(const H& headers, std::chrono::system_clock::time_point now)
    noexcept(detail::nothrow_source<H>) {
    return detail::retry_after_with(headers, [now]() noexcept { return now; });
}

/// As above, reading std::chrono::system_clock only when an HTTP-date has to be evaluated.
template <header_source H = header_list>
constexpr std::optional<duration> retry_after(const H& headers) noexcept(detail::nothrow_source<H>) {
    return detail::retry_after_with(headers, detail::system_now);
}

/// The `x-should-retry` header: true, false, or nullopt when absent or not exactly "true"/"false".
template <header_source H = header_list>
constexpr std::optional<bool> should_retry(const H& headers) noexcept(detail::nothrow_source<H>) {
    return detail::find_parsed(headers, "x-should-retry", parse_should_retry);
}

// ---------------------------------------------------------------------------------------------
// classify
// ---------------------------------------------------------------------------------------------

/// How `classify` reads a response. Keep a customised one in a static or a member: the status
/// table is 500 bytes, and the overloads without options use the defaults without copying them.
struct classify_options {
    /// Status -> fault table; the library defaults unless overridden.
    status_map statuses = default_status_map;
    /// Obey `x-should-retry`, as the OpenAI clients do (@azure/core-rest-pipeline ignores it).
    /// Default true.
    bool honour_should_retry = true;
};

namespace detail {

// The verdict for a failed status's fault once its headers are parsed: the server's delay,
// and x-should-retry (false: no_retry; true: a rejected request becomes unavailable). Shared by
// classify below and by adapters that parse the headers before the transfer's handle goes away
// (failover/adapters/curl.hpp).
constexpr verdict with_response_hints(fault kind, std::optional<duration> retry_after,
                                      std::optional<bool> should_retry) noexcept {
    verdict v{.kind = kind};
    // A success carries no delay and ignores x-should-retry: nothing is retried after it.
    if (v.ok()) return v;
    v.retry_after = retry_after;
    if (should_retry) {
        if (!*should_retry) {
            v.no_retry = true;  // the fault stays, so health accounting still sees it
        } else if (v.kind == fault::rejected) {
            // The server vouches that the request is fine and a retry may work: what failed
            // is on its side, the same as a 503.
            v.kind = fault::unavailable;
        }
    }
    return v;
}

template <class H, class Now>
constexpr verdict classify_with(int status, const H& headers, const status_map& statuses,
                                bool honour_should_retry, Now&& now) noexcept(nothrow_source<H>) {
    const fault kind = statuses[status];
    if (kind == fault::none) return verdict{};  // no header is read (nor the clock) for a success
    // Two statements: the headers are asked for in a fixed order (arguments have none).
    const std::optional<duration> delay = retry_after_with(headers, now);
    return with_response_hints(kind, delay, honour_should_retry ? should_retry(headers) : std::nullopt);
}

}  // namespace detail

/// The verdict for a bare status, by the default table: no headers, so no retry_after.
constexpr verdict classify(int status) noexcept {
    return verdict{.kind = default_status_map[status]};
}

/// The verdict for a bare status, by `options.statuses`.
constexpr verdict classify(int status, const classify_options& options) noexcept {
    return verdict{.kind = options.statuses[status]};
}

/// The verdict for a response: the fault from the default status table; on a failure, the
/// server-directed delay (see retry_after) and `x-should-retry` (false: `no_retry`, the fault
/// kept; true: a `rejected` status becomes `unavailable`). Reads the system clock only for an
/// HTTP-date Retry-After.
template <header_source H = header_list>
constexpr verdict classify(int status, const H& headers) noexcept(detail::nothrow_source<H>) {
    return detail::classify_with(status, headers, default_status_map, true, detail::system_now);
}

/// As above, with `options`.
template <header_source H = header_list>
constexpr verdict classify(int status, const H& headers, const classify_options& options)
    noexcept(detail::nothrow_source<H>) {
    return detail::classify_with(status, headers, options.statuses, options.honour_should_retry,
                                 detail::system_now);
}

/// As above, measuring an HTTP-date Retry-After from `now` instead of the system clock.
template <header_source H = header_list>
constexpr verdict classify(int status, const H& headers, std::chrono::system_clock::time_point now)
    noexcept(detail::nothrow_source<H>) {
    return detail::classify_with(status, headers, default_status_map, true,
                                 [now]() noexcept { return now; });
}

/// As above, with `options`, measuring an HTTP-date Retry-After from `now`.
template <header_source H = header_list>
constexpr verdict classify(int status, const H& headers, std::chrono::system_clock::time_point now,
                           const classify_options& options) noexcept(detail::nothrow_source<H>) {
    return detail::classify_with(status, headers, options.statuses, options.honour_should_retry,
                                 [now]() noexcept { return now; });
}

// ---------------------------------------------------------------------------------------------
// Event streams
// ---------------------------------------------------------------------------------------------

/// Watches a `text/event-stream` body (a chat completion with `"stream": true`) for the
/// `data: [DONE]` event that ends it. Feed it the body bytes as they arrive, in any chunking;
/// `done()` says whether the end was seen. A stream that closes cleanly without it was cut
/// short, which every official OpenAI client reports as success (docs/classification.md,
/// "Streams"); a transport that checks `done()` can report a fault instead.
///
/// The syntax is WHATWG server-sent events: lines end in LF, CRLF or a lone CR (a CRLF may be
/// split between two chunks), one leading UTF-8 byte order mark is skipped, the field name is
/// exactly `data` (case-sensitive) and one space after the colon is optional. As in openai-node
/// and openai-python, a data value that begins with `[DONE]` ends the stream, even before its
/// line end arrives. Comments (`: keep-alive`) and other fields are skipped.
///
/// Three bytes of state, no allocation, usable in constant expressions. Not thread-safe: one
/// per transfer. Other stream shapes (the Responses API ends with `event: response.completed`)
/// need their own check.
class event_stream_end {
public:
    /// Feeds the next bytes of the body. Bytes after the end are ignored.
    constexpr void feed(std::string_view bytes) noexcept {
        for (const char c : bytes) {
            if (phase_ == phase::done) return;
            step(c);
        }
    }

    /// True once a `data: [DONE]` line was seen.
    constexpr bool done() const noexcept { return phase_ == phase::done; }

    /// Forgets what was fed: for the body of a new attempt.
    constexpr void reset() noexcept { *this = event_stream_end{}; }

private:
    enum class phase : std::uint8_t {
        bom,    // at the start of the stream: a byte order mark may come first
        field,  // at a line start: matching "data:"
        space,  // after "data:": one optional space
        value,  // matching "[DONE]"
        skip,   // the line cannot be the end: wait for its line end
        done,
    };

    static constexpr std::string_view field_ = "data:";
    static constexpr std::string_view value_ = "[DONE]";
    static constexpr std::string_view bom_ = "\xEF\xBB\xBF";

    constexpr void step(char c) noexcept {
        if (after_cr_) {
            after_cr_ = false;
            if (c == '\n') return;  // the LF of a CRLF whose CR already ended the line
        }
        if (c == '\r' || c == '\n') {
            after_cr_ = c == '\r';
            start_line();
            return;
        }
        switch (phase_) {
            case phase::bom:
                if (c == bom_[matched_]) {
                    if (++matched_ == bom_.size()) start_line();
                    return;
                }
                if (matched_ != 0) {  // a partial mark is the start of an ordinary first line
                    phase_ = phase::skip;
                    return;
                }
                phase_ = phase::field;
                match(c, field_, phase::space);
                return;
            case phase::field:
                match(c, field_, phase::space);
                return;
            case phase::space:
                phase_ = phase::value;
                matched_ = 0;
                if (c != ' ') match(c, value_, phase::done);
                return;
            case phase::value:
                match(c, value_, phase::done);
                return;
            case phase::skip:
            case phase::done:
                return;
        }
    }

    constexpr void start_line() noexcept {
        phase_ = phase::field;
        matched_ = 0;
    }

    // The next byte of `pattern`: on a match, `then` once all of it is matched; else skip the line.
    constexpr void match(char c, std::string_view pattern, phase then) noexcept {
        if (c != pattern[matched_]) {
            phase_ = phase::skip;
            return;
        }
        if (++matched_ == pattern.size()) {
            phase_ = then;
            matched_ = 0;
        }
    }

    phase phase_ = phase::bom;
    std::uint8_t matched_ = 0;  // bytes of the mark, "data:" or "[DONE]" matched so far
    bool after_cr_ = false;     // the last byte was CR: an LF now completes it, not a new line
};

}  // namespace failover::http

#endif  // FAILOVER_HTTP_HPP_INCLUDED
