// Tests for failover/http.hpp: the status table, the header sources, the Retry-After family of
// parsers, x-should-retry and classify. Every clock value is fixed, except in the one test of
// the overloads that read the system clock themselves.
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include <failover/http.hpp>

#include <catch2/catch.hpp>

#include "support/catch_printers.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace http = failover::http;
using failover::duration;
using failover::fault;
using failover::verdict;
using namespace std::chrono_literals;
using namespace std::string_view_literals;

namespace {

using sys_time = std::chrono::system_clock::time_point;

// 2024-05-01 12:00:00 UTC, Wednesday.
constexpr std::chrono::sys_seconds now_s{std::chrono::seconds{1714564800}};
constexpr sys_time now{now_s};
// "Sun, 06 Nov 1994 08:49:37 GMT", the RFC's example.
constexpr std::chrono::sys_seconds rfc_example{std::chrono::seconds{784111777}};

using sv_pair = std::pair<std::string_view, std::string_view>;
using string_pairs = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Status table
// ---------------------------------------------------------------------------------------------

TEST_CASE("2xx and 3xx statuses are successes", "[http][status]") {
    for (int s = 200; s <= 399; ++s) {
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::none);
        CHECK(http::classify(s) == failover::success);
    }
}

TEST_CASE("408 is a timeout and 429 is throttled", "[http][status]") {
    CHECK(http::classify_status(408) == fault::timeout);
    CHECK(http::classify_status(429) == fault::throttled);
}

TEST_CASE("every other 4xx status is rejected including 409", "[http][status]") {
    for (int s = 400; s <= 499; ++s) {
        if (s == 408 || s == 429) continue;
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::rejected);
    }
    CHECK(http::classify_status(409) == fault::rejected);
}

TEST_CASE("500 502 503 and 504 are unavailable", "[http][status]") {
    for (int s : {500, 502, 503, 504}) {
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::unavailable);
    }
}

TEST_CASE("501 505 506 and 510 are rejected", "[http][status]") {
    for (int s : {501, 505, 506, 510}) {
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::rejected);
    }
}

TEST_CASE("507 508 511 and unassigned 5xx statuses are unavailable", "[http][status]") {
    for (int s = 500; s <= 599; ++s) {
        if (s == 501 || s == 505 || s == 506 || s == 510) continue;
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::unavailable);
    }
    for (int s : {507, 508, 511, 509, 520, 521, 522, 523, 524, 525, 526, 530, 598, 599}) {
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::unavailable);
    }
}

TEST_CASE("101 is a success and other 1xx statuses are unavailable", "[http][status]") {
    CHECK(http::classify_status(101) == fault::none);
    for (int s : {100, 102, 103, 150, 199}) {
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::unavailable);
    }
}

TEST_CASE("statuses outside 100 to 599 are unavailable", "[http][status]") {
    for (int s : {0, -1, 1, 99, 600, 601, 999, 1000, std::numeric_limits<int>::min(),
                  std::numeric_limits<int>::max()}) {
        INFO("status " << s);
        CHECK(http::classify_status(s) == fault::unavailable);
        CHECK(http::classify(s).kind == fault::unavailable);
    }
}

TEST_CASE("a default constructed status map holds the defaults", "[http][status]") {
    STATIC_REQUIRE(http::status_map{} == http::default_status_map);
}

TEST_CASE("set overrides one status and leaves the others alone", "[http][status][override]") {
    constexpr http::status_map m = http::status_map{}.set(409, fault::unavailable);
    STATIC_REQUIRE(m[409] == fault::unavailable);
    STATIC_REQUIRE(m[408] == fault::timeout);
    STATIC_REQUIRE(m[410] == fault::rejected);
    STATIC_REQUIRE(http::default_status_map[409] == fault::rejected);
    CHECK(http::classify_status(409, m) == fault::unavailable);
}

TEST_CASE("set_range overrides a range of statuses", "[http][status][override]") {
    http::status_map m;
    m.set_range(520, 530, fault::timeout).set(401, fault::connection);
    for (int s = 520; s <= 530; ++s) CHECK(m[s] == fault::timeout);
    CHECK(m[519] == fault::unavailable);
    CHECK(m[531] == fault::unavailable);
    CHECK(m[401] == fault::connection);
}

TEST_CASE("set_out_of_range changes the fault of statuses outside the table", "[http][status][override]") {
    http::status_map m;
    m.set_out_of_range(fault::connection);
    CHECK(m[0] == fault::connection);
    CHECK(m[600] == fault::connection);
    CHECK(m[599] == fault::unavailable);
}

TEST_CASE("status map overrides outside the table are configuration errors", "[http][status][override]") {
    http::status_map m;
    REQUIRE_THROWS_AS(m.set(600, fault::rejected), failover::config_error);
    REQUIRE_THROWS_WITH(m.set(99, fault::rejected),
                        "failover::http::status_map::set: status must be in 100..599 (got 99)");
    REQUIRE_THROWS_WITH(m.set_range(500, 400, fault::rejected),
                        "failover::http::status_map::set_range: requires 100 <= first <= last <= 599 (got 500..400)");
    REQUIRE_THROWS_WITH(m.set_range(-5, 200, fault::rejected), Catch::Contains("(got -5..200)"));
    REQUIRE_THROWS_AS(m.set(200, static_cast<fault>(42)), failover::config_error);
    REQUIRE_THROWS_AS(m.set_out_of_range(static_cast<fault>(7)), failover::config_error);
    CHECK(m == http::default_status_map);
}

TEST_CASE("classify options carry a custom status map", "[http][status][override]") {
    const http::classify_options options{.statuses = http::status_map{}.set(409, fault::unavailable)};
    CHECK(http::classify(409, options).kind == fault::unavailable);
    CHECK(http::classify(409).kind == fault::rejected);
    const verdict v = http::classify(409, {{"retry-after", "2"}}, now, options);
    CHECK(v == verdict{.kind = fault::unavailable, .retry_after = 2s});
    CHECK(http::classify(409, {{"retry-after", "2"}}, options).kind == fault::unavailable);
}

// ---------------------------------------------------------------------------------------------
// Millisecond and second parsers
// ---------------------------------------------------------------------------------------------

TEST_CASE("parse_delay_ms reads whole and fractional milliseconds", "[http][parse]") {
    CHECK(http::parse_delay_ms("1500") == 1500ms);
    CHECK(http::parse_delay_ms("0") == 0ns);
    CHECK(http::parse_delay_ms("000") == 0ns);
    CHECK(http::parse_delay_ms("0001500") == 1500ms);
    CHECK(http::parse_delay_ms("1500.5") == 1'500'500'000ns);
    CHECK(http::parse_delay_ms("1.5") == 1'500'000ns);
    CHECK(http::parse_delay_ms(".5") == 500'000ns);
    CHECK(http::parse_delay_ms("5.") == 5ms);
    CHECK(http::parse_delay_ms("0.000001") == 1ns);
    CHECK(http::parse_delay_ms("1.0000009") == 1ms);  // beyond nanoseconds: dropped
    CHECK(http::parse_delay_ms(std::string(100, '0') + "7") == 7ms);
}

TEST_CASE("parse_delay_ms trims optional whitespace", "[http][parse]") {
    CHECK(http::parse_delay_ms(" 1500") == 1500ms);
    CHECK(http::parse_delay_ms("1500 ") == 1500ms);
    CHECK(http::parse_delay_ms("\t 1500 \t") == 1500ms);
}

TEST_CASE("parse_delay_seconds reads whole and fractional seconds", "[http][parse]") {
    CHECK(http::parse_delay_seconds("120") == 120s);
    CHECK(http::parse_delay_seconds("0") == 0s);
    CHECK(http::parse_delay_seconds("1.5") == 1500ms);
    CHECK(http::parse_delay_seconds("0.000000001") == 1ns);
    CHECK(http::parse_delay_seconds("0.0000000019") == 1ns);
    CHECK(http::parse_delay_seconds(" 7 ") == 7s);
}

TEST_CASE("hostile numbers are rejected", "[http][parse][hostile]") {
    const std::string_view hostile[] = {
        "", " ", "\t", "   \t  ", "-1", "-0", "+5", "-1500", "abc", "1500abc", "abc1500", "15 00",
        "1 500", "1e3", "1E3", "0x10", "0X1F", "inf", "Infinity", "nan", "NaN", ".", "..", "1..5",
        "1.2.3", "1,5", "1_000", "\r1500", "1500\r\n", "1500\n", "\v5", "5ms", "5s", "\xef\xbc\x95",
        "1500\xc2\xa0", "--5", "5-", "0b101", "\x01"};
    for (std::string_view h : hostile) {
        INFO("value \"" << std::string(h) << "\"");
        CHECK_FALSE(http::parse_delay_ms(h));
        CHECK_FALSE(http::parse_delay_seconds(h));
        CHECK_FALSE(http::parse_retry_after(h, now));
    }
}

TEST_CASE("embedded NUL bytes are rejected", "[http][parse][hostile]") {
    const std::string_view with_nul[] = {std::string_view{"15\0" "00", 5}, std::string_view{"1500\0", 5},
                                         std::string_view{"\0" "1500", 5}, std::string_view{"\0", 1},
                                         std::string_view{"1.\0" "5", 4}};
    for (std::string_view v : with_nul) {
        CHECK_FALSE(http::parse_delay_ms(v));
        CHECK_FALSE(http::parse_delay_seconds(v));
        CHECK_FALSE(http::parse_retry_after(v, now));
        CHECK_FALSE(http::parse_should_retry(v));
    }
    CHECK_FALSE(http::parse_http_date(std::string_view{"Sun, 06 Nov 1994 08:49:37 GMT\0", 30}, now_s));
    CHECK_FALSE(http::parse_http_date(std::string_view{"Sun, 06 Nov 1994\0" "08:49:37 GMT", 29}, now_s));
}

TEST_CASE("huge numbers are clamped to max_server_delay", "[http][parse][hostile]") {
    STATIC_REQUIRE(http::max_server_delay == 24h);
    CHECK(http::parse_delay_ms("99999999999999999999") == http::max_server_delay);
    CHECK(http::parse_delay_ms("99999999999999999999999999999999999999.5") == http::max_server_delay);
    CHECK(http::parse_delay_ms("86400000") == http::max_server_delay);
    CHECK(http::parse_delay_ms("86400000.000001") == http::max_server_delay);
    CHECK(http::parse_delay_ms("86400001") == http::max_server_delay);
    CHECK(http::parse_delay_ms("86399999.9999999") == http::max_server_delay - 1ns);
    CHECK(http::parse_delay_seconds("99999999999999999999") == http::max_server_delay);
    CHECK(http::parse_delay_seconds("86400") == 24h);
    CHECK(http::parse_delay_seconds("86401") == http::max_server_delay);
    CHECK(http::parse_delay_seconds(std::string(5000, '9')) == http::max_server_delay);
}

// ---------------------------------------------------------------------------------------------
// HTTP-dates
// ---------------------------------------------------------------------------------------------

TEST_CASE("parse_http_date reads the three date forms", "[http][date]") {
    CHECK(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now_s) == rfc_example);
    CHECK(http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now_s) == rfc_example);
    CHECK(http::parse_http_date("Sun Nov  6 08:49:37 1994", now_s) == rfc_example);
    CHECK(http::parse_http_date("Sun Nov 06 08:49:37 1994", now_s) == rfc_example);
    CHECK(http::parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t", now_s) == rfc_example);
}

TEST_CASE("parse_http_date reads every month and leap days", "[http][date]") {
    CHECK(http::parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", now_s) ==
          std::chrono::sys_seconds{std::chrono::seconds{1709164800}});
    CHECK(http::parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", now_s) ==
          std::chrono::sys_seconds{std::chrono::seconds{951782400}});
    CHECK(http::parse_http_date("Wed, 01 May 2024 12:00:00 GMT", now_s) == now_s);
    CHECK(http::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", now_s) == std::chrono::sys_seconds{});
    const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::int64_t previous = 0;
    for (const char* m : months) {
        const std::string date = std::string("Mon, 15 ") + m + " 2024 00:00:00 GMT";
        INFO(date);
        const auto parsed = http::parse_http_date(date, now_s);
        REQUIRE(parsed);
        CHECK(parsed->time_since_epoch().count() > previous);
        previous = parsed->time_since_epoch().count();
    }
    CHECK(http::parse_http_date("Mon, 31 Dec 2024 23:59:60 GMT", now_s));  // a leap second
}

TEST_CASE("RFC 850 two digit years more than 50 years ahead are in the past", "[http][date]") {
    // now is 2024: 74 is 2074 (exactly 50 years ahead), 75 would be 2075 and is 1975.
    CHECK(http::parse_http_date("Monday, 01-Jan-74 00:00:00 GMT", now_s) ==
          std::chrono::sys_seconds{std::chrono::seconds{3281990400}});
    CHECK(http::parse_http_date("Wednesday, 01-Jan-75 00:00:00 GMT", now_s) ==
          std::chrono::sys_seconds{std::chrono::seconds{157766400}});
    CHECK(http::parse_http_date("Thursday, 29-Feb-24 00:00:00 GMT", now_s) ==
          std::chrono::sys_seconds{std::chrono::seconds{1709164800}});
    CHECK_FALSE(http::parse_http_date("Thursday, 29-Feb-23 00:00:00 GMT", now_s));

    // now is 2090: 10 is 2110, not 2010 (the window around now stays 100 years wide).
    constexpr std::chrono::sys_seconds in_2090{std::chrono::seconds{3799958400}};
    CHECK(http::parse_http_date("Friday, 01-Jan-10 00:00:00 GMT", in_2090) ==
          std::chrono::sys_seconds{std::chrono::seconds{4417977600}});
    CHECK(http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", in_2090) ==
          std::chrono::sys_seconds{std::chrono::seconds{784111777 + 3155760000LL}});  // 2094
}

TEST_CASE("invalid dates are rejected", "[http][date][hostile]") {
    const std::string_view invalid[] = {
        "",
        "Sun, 30 Feb 1994 08:49:37 GMT",   // February 30
        "Thu, 29 Feb 2023 00:00:00 GMT",   // not a leap year
        "Thu, 29 Feb 1900 00:00:00 GMT",   // century, not a leap year
        "Sun, 31 Apr 1994 08:49:37 GMT",   // April has 30 days
        "Sun, 00 Nov 1994 08:49:37 GMT",   // day 0
        "Sun, 32 Nov 1994 08:49:37 GMT",   // day 32
        "Sun, 06 Nov 1994 24:00:00 GMT",   // hour 24
        "Sun, 06 Nov 1994 23:60:00 GMT",   // minute 60
        "Sun, 06 Nov 1994 23:59:61 GMT",   // second 61
        "Sun, 06 Foo 1994 08:49:37 GMT",   // bad month
        "Sun, 06 nov 1994 08:49:37 GMT",   // month names are case-sensitive
        "Sux, 06 Nov 1994 08:49:37 GMT",   // bad weekday
        "sun, 06 Nov 1994 08:49:37 GMT",   // weekday names are case-sensitive
        "Sunday, 06 Nov 1994 08:49:37 GMT",  // long weekday in an IMF-fixdate
        "Sun, 06-Nov-94 08:49:37 GMT",     // short weekday in an RFC 850 date
        "Sunday Nov  6 08:49:37 1994",     // long weekday in an asctime date
        "Sun, 06 Nov 1994 08:49:37",       // missing GMT
        "Sun, 06 Nov 1994 08:49:37 UTC",   // not GMT
        "Sun, 06 Nov 1994 08:49:37 gmt",   // GMT is case-sensitive
        "Sun, 06 Nov 1994 08:49:37 GMT+1",  // trailing junk
        "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Sun, 06 Nov 1994 08:49:37 GMT garbage",
        "Sun, 6 Nov 1994 08:49:37 GMT",    // one-digit day in an IMF-fixdate
        "Sun, 06 Nov 94 08:49:37 GMT",     // two-digit year in an IMF-fixdate
        "Sun, 06 Nov 19940 08:49:37 GMT",  // five-digit year
        "Sun, 06 Nov 1994 8:49:37 GMT",    // one-digit hour
        "Sun, 06  Nov 1994 08:49:37 GMT",  // doubled space
        "Sun,06 Nov 1994 08:49:37 GMT",    // missing space
        "Sun, 06 Nov 1994 08-49-37 GMT",   // wrong separators
        "Sun, -6 Nov 1994 08:49:37 GMT",   // sign
        "Sunday, 06-Nov-1994 08:49:37 GMT",  // four-digit year in an RFC 850 date
        "Sunday, 06-Nov-94 08:49:37",      // RFC 850 without GMT
        "Sun Nov  6 08:49:37 1994 GMT",    // asctime has no zone
        "Sun Nov 6 08:49:37 1994",         // asctime one-digit day needs SP padding
        "Sun Nov   6 08:49:37 1994",       // three spaces
        "Sun Nov  6 08:49:37 94",          // two-digit year in asctime
        "2024-05-01T12:00:00Z",            // ISO 8601 is not an HTTP-date
        "1714564800",                      // an epoch number is not a date
        "Sun",
        "Sun, ",
        "Sun, 06 Nov 1994 08:49:",
    };
    for (std::string_view d : invalid) {
        INFO("date \"" << std::string(d) << "\"");
        CHECK_FALSE(http::parse_http_date(d, now_s));
        if (d != "1714564800") CHECK_FALSE(http::parse_retry_after(d, now));
    }
}

// ---------------------------------------------------------------------------------------------
// Retry-After values
// ---------------------------------------------------------------------------------------------

TEST_CASE("parse_retry_after reads seconds and the three date forms", "[http][retry-after]") {
    CHECK(http::parse_retry_after("30", now) == 30s);
    CHECK(http::parse_retry_after("1.5", now) == 1500ms);
    CHECK(http::parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30s);
    CHECK(http::parse_retry_after("Wednesday, 01-May-24 12:01:00 GMT", now) == 60s);
    CHECK(http::parse_retry_after("Wed May  1 13:00:00 2024", now) == 1h);
}

TEST_CASE("a date is measured from now to the nanosecond", "[http][retry-after]") {
    CHECK(http::parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now + 250ms) == 29750ms);
    CHECK(http::parse_retry_after("Wed, 01 May 2024 12:00:01 GMT", now + 999'999'999ns) == 1ns);
}

TEST_CASE("a date in the past or at now is a zero delay", "[http][retry-after][hostile]") {
    CHECK(http::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 0ns);
    CHECK(http::parse_retry_after("Wed, 01 May 2024 12:00:00 GMT", now) == 0ns);
    CHECK(http::parse_retry_after("Wed, 01 May 2024 12:00:00 GMT", now + 500ms) == 0ns);
    CHECK(http::parse_retry_after("Sat, 01 Jan 0000 00:00:00 GMT", now) == 0ns);
}

TEST_CASE("a date far in the future is clamped to max_server_delay", "[http][retry-after][hostile]") {
    CHECK(http::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) == http::max_server_delay);
    CHECK(http::parse_retry_after("Thu, 02 May 2024 12:00:00 GMT", now) == 24h);
    CHECK(http::parse_retry_after("Thu, 02 May 2024 12:00:01 GMT", now) == http::max_server_delay);
    CHECK(http::parse_retry_after("Thu, 02 May 2024 12:00:00 GMT", now - 1ns) == http::max_server_delay);
    CHECK(http::parse_retry_after("Thu, 02 May 2024 11:59:59 GMT", now) == 24h - 1s);
}

TEST_CASE("dates work at the ends of the system clock", "[http][retry-after][hostile]") {
    CHECK(http::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", sys_time::min()) == http::max_server_delay);
    CHECK(http::parse_retry_after("Sat, 01 Jan 0000 00:00:00 GMT", sys_time::max()) == 0ns);
    CHECK(http::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", sys_time::min()) == http::max_server_delay);
    // The clock ends in April 2262: 94 is 2294, ahead; January 62 is 2262, just past.
    CHECK(http::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", sys_time::max()) == http::max_server_delay);
    CHECK(http::parse_retry_after("Friday, 06-Jan-62 08:49:37 GMT", sys_time::max()) == 0ns);
}

// ---------------------------------------------------------------------------------------------
// retry_after: headers and precedence
// ---------------------------------------------------------------------------------------------

TEST_CASE("retry_after reads each header", "[http][retry-after]") {
    CHECK(http::retry_after({{"retry-after-ms", "1500"}}, now) == 1500ms);
    CHECK(http::retry_after({{"retry-after-ms", "1500.25"}}, now) == 1'500'250'000ns);
    CHECK(http::retry_after({{"x-ms-retry-after-ms", "250"}}, now) == 250ms);
    CHECK(http::retry_after({{"x-ms-retry-after-ms", "0.5"}}, now) == 500us);
    CHECK(http::retry_after({{"Retry-After", "7"}}, now) == 7s);
    CHECK(http::retry_after({{"Retry-After", "Wed, 01 May 2024 12:00:10 GMT"}}, now) == 10s);
    CHECK(http::retry_after({{"Retry-After", "Wednesday, 01-May-24 12:00:10 GMT"}}, now) == 10s);
    CHECK(http::retry_after({{"Retry-After", "Wed May  1 12:00:10 2024"}}, now) == 10s);
    CHECK_FALSE(http::retry_after({{"content-type", "application/json"}}, now));
    CHECK_FALSE(http::retry_after(http::header_list{}, now));
}

TEST_CASE("retry-after-ms takes precedence over x-ms-retry-after-ms", "[http][precedence]") {
    CHECK(http::retry_after({{"x-ms-retry-after-ms", "900"}, {"retry-after-ms", "100"}}, now) == 100ms);
}

TEST_CASE("retry-after-ms takes precedence over Retry-After", "[http][precedence]") {
    CHECK(http::retry_after({{"Retry-After", "9"}, {"retry-after-ms", "100"}}, now) == 100ms);
    CHECK(http::retry_after({{"Retry-After", "Wed, 01 May 2024 12:00:10 GMT"}, {"retry-after-ms", "100"}}, now) ==
          100ms);
}

TEST_CASE("x-ms-retry-after-ms takes precedence over Retry-After", "[http][precedence]") {
    CHECK(http::retry_after({{"Retry-After", "9"}, {"x-ms-retry-after-ms", "100"}}, now) == 100ms);
}

TEST_CASE("a valid retry-after-ms of zero shadows Retry-After", "[http][precedence]") {
    CHECK(http::retry_after({{"retry-after-ms", "0"}, {"Retry-After", "1"}}, now) == 0ns);
    CHECK(http::retry_after({{"x-ms-retry-after-ms", "0"}, {"Retry-After", "1"}}, now) == 0ns);
    CHECK(http::retry_after({{"retry-after-ms", "0"}, {"x-ms-retry-after-ms", "500"}}, now) == 0ns);
}

TEST_CASE("a header that does not parse falls through to the next", "[http][precedence][hostile]") {
    CHECK(http::retry_after({{"retry-after-ms", "1500abc"}, {"x-ms-retry-after-ms", "250"}}, now) == 250ms);
    CHECK(http::retry_after({{"retry-after-ms", "soon"}, {"Retry-After", "3"}}, now) == 3s);
    CHECK(http::retry_after({{"retry-after-ms", "-1"}, {"x-ms-retry-after-ms", ""}, {"Retry-After", "3"}}, now) ==
          3s);
    CHECK(http::retry_after({{"x-ms-retry-after-ms", "nan"}, {"Retry-After", "3"}}, now) == 3s);
    CHECK_FALSE(http::retry_after({{"retry-after-ms", "x"}, {"x-ms-retry-after-ms", "y"}, {"Retry-After", "z"}}, now));
}

TEST_CASE("the first of several headers with one name counts", "[http][precedence]") {
    const string_pairs twice = {{"Retry-After", "5"}, {"retry-after", "7"}};
    CHECK(http::retry_after(twice, now) == 5s);
    // The first one decides even when it does not parse: a later duplicate is not consulted.
    const string_pairs garbage_first = {{"retry-after", "soon"}, {"Retry-After", "7"}};
    CHECK_FALSE(http::retry_after(garbage_first, now));
    const std::multimap<std::string, std::string> multi = {{"retry-after-ms", "10"}, {"retry-after-ms", "20"}};
    CHECK(http::retry_after(multi, now) == 10ms);
}

TEST_CASE("header names match without regard to ASCII case", "[http][headers]") {
    CHECK(http::retry_after({{"RETRY-AFTER-MS", "1"}}, now) == 1ms);
    CHECK(http::retry_after({{"Retry-After-Ms", "2"}}, now) == 2ms);
    CHECK(http::retry_after({{"X-MS-Retry-After-MS", "3"}}, now) == 3ms);
    CHECK(http::retry_after({{"rEtRy-AfTeR", "4"}}, now) == 4s);
    CHECK(http::should_retry({{"X-Should-Retry", "true"}}) == true);
    CHECK_FALSE(http::retry_after({{"retry_after", "4"}}, now));   // '_' is not '-'
    CHECK_FALSE(http::retry_after({{"retry-after ", "4"}}, now));  // names are not trimmed
    CHECK_FALSE(http::retry_after({{"retry-after-m", "4"}}, now));
}

TEST_CASE("header values are trimmed of optional whitespace", "[http][headers]") {
    CHECK(http::retry_after({{"retry-after-ms", "  1500\t"}}, now) == 1500ms);
    CHECK(http::retry_after({{"retry-after", " Wed, 01 May 2024 12:00:10 GMT "}}, now) == 10s);
}

// ---------------------------------------------------------------------------------------------
// Header sources
// ---------------------------------------------------------------------------------------------

TEST_CASE("headers given as a std::map", "[http][headers]") {
    const std::map<std::string, std::string> h = {{"Retry-After", "3"}, {"Content-Type", "text/plain"}};
    CHECK(http::retry_after(h, now) == 3s);
    CHECK(http::classify(503, h, now) == verdict{.kind = fault::unavailable, .retry_after = 3s});
}

TEST_CASE("headers given as a std::multimap", "[http][headers]") {
    const std::multimap<std::string, std::string> h = {{"x-should-retry", "false"}, {"retry-after-ms", "40"}};
    CHECK(http::classify(429, h, now) == verdict{.kind = fault::throttled, .retry_after = 40ms, .no_retry = true});
}

TEST_CASE("headers given as a std::unordered_map", "[http][headers]") {
    const std::unordered_map<std::string, std::string> h = {{"retry-after-ms", "40"}};
    CHECK(http::retry_after(h, now) == 40ms);
}

TEST_CASE("headers given as a vector of string pairs", "[http][headers]") {
    const string_pairs h = {{"Date", "Wed, 01 May 2024 12:00:00 GMT"}, {"Retry-After", "12"}};
    CHECK(http::retry_after(h, now) == 12s);
}

TEST_CASE("headers given as a vector of string_view pairs", "[http][headers]") {
    const std::vector<sv_pair> h = {{"retry-after-ms", "12"}};
    CHECK(http::retry_after(h, now) == 12ms);
}

TEST_CASE("headers given as a C array of string_view pairs", "[http][headers]") {
    const sv_pair h[] = {{"server", "x"}, {"x-ms-retry-after-ms", "12"}};
    CHECK(http::retry_after(h, now) == 12ms);
}

TEST_CASE("headers given as a braced initializer list", "[http][headers]") {
    CHECK(http::classify(429, {{"retry-after-ms", "5"}}, now) == verdict{.kind = fault::throttled, .retry_after = 5ms});
    const http::header_list h = {{"retry-after", "5"}};
    CHECK(http::retry_after(h, now) == 5s);
}

TEST_CASE("headers given as pairs of C strings with null pointers", "[http][headers][hostile]") {
    const std::pair<const char*, const char*> h[] = {
        {nullptr, "1"}, {"retry-after-ms", nullptr}, {"x-ms-retry-after-ms", "8"}};
    CHECK(http::retry_after(h, now) == 8ms);
}

TEST_CASE("headers given as tuples and arrays", "[http][headers]") {
    const std::vector<std::tuple<std::string, std::string>> tuples = {{"retry-after", "4"}};
    CHECK(http::retry_after(tuples, now) == 4s);
    const std::array<std::array<std::string_view, 2>, 1> arrays = {{{"retry-after-ms", "4"}}};
    CHECK(http::retry_after(arrays, now) == 4ms);
}

TEST_CASE("headers given as a lookup returning an optional", "[http][headers]") {
    std::vector<std::string> asked;
    auto lookup = [&](std::string_view name) -> std::optional<std::string> {
        asked.emplace_back(name);
        if (name == "retry-after") return std::string("6");
        if (name == "x-should-retry") return std::string("false");
        return std::nullopt;
    };
    CHECK(http::classify(503, lookup, now) == verdict{.kind = fault::unavailable, .retry_after = 6s, .no_retry = true});
    // Asked in precedence order, always in lowercase.
    CHECK(asked == std::vector<std::string>{"retry-after-ms", "x-ms-retry-after-ms", "retry-after", "x-should-retry"});

    auto views = [](std::string_view name) -> std::optional<std::string_view> {
        if (name == "retry-after-ms") return "15"sv;
        return std::nullopt;
    };
    CHECK(http::retry_after(views, now) == 15ms);
    auto present_but_empty = [](std::string_view) { return std::optional<std::string_view>{""}; };
    CHECK_FALSE(http::retry_after(present_but_empty, now));
}

TEST_CASE("headers given as a lookup returning a C string", "[http][headers]") {
    auto lookup = [](std::string_view name) -> const char* {
        return name == "x-ms-retry-after-ms" ? "30" : nullptr;
    };
    CHECK(http::retry_after(lookup, now) == 30ms);
    auto none = [](std::string_view) -> const char* { return nullptr; };
    CHECK(http::classify(500, none, now) == verdict{.kind = fault::unavailable});
}

TEST_CASE("headers given as a lookup returning a string_view or a string", "[http][headers]") {
    auto views = [](std::string_view name) -> std::string_view { return name == "retry-after" ? "2" : ""; };
    CHECK(http::retry_after(views, now) == 2s);
    auto strings = [](std::string_view name) -> std::string { return name == "retry-after-ms" ? "2" : ""; };
    CHECK(http::retry_after(strings, now) == 2ms);
}

TEST_CASE("a lookup is not consulted for a success", "[http][headers]") {
    int calls = 0;
    auto lookup = [&](std::string_view) -> const char* {
        ++calls;
        return "5";
    };
    CHECK(http::classify(200, lookup, now) == failover::success);
    CHECK(calls == 0);
}

TEST_CASE("header_source accepts ranges of pairs and lookups and nothing else", "[http][headers]") {
    auto lookup = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
    auto takes_int = [](int) -> const char* { return nullptr; };
    auto returns_int = [](std::string_view) { return 5; };
    STATIC_REQUIRE(http::header_source<std::map<std::string, std::string>>);
    STATIC_REQUIRE(http::header_source<std::multimap<std::string, std::string>>);
    STATIC_REQUIRE(http::header_source<string_pairs>);
    STATIC_REQUIRE(http::header_source<std::vector<sv_pair>>);
    STATIC_REQUIRE(http::header_source<sv_pair[3]>);
    STATIC_REQUIRE(http::header_source<http::header_list>);
    STATIC_REQUIRE(http::header_source<decltype(lookup)>);
    STATIC_REQUIRE_FALSE(http::header_source<std::string>);
    STATIC_REQUIRE_FALSE(http::header_source<std::string_view>);
    STATIC_REQUIRE_FALSE(http::header_source<const char*>);
    STATIC_REQUIRE_FALSE(http::header_source<int>);
    STATIC_REQUIRE_FALSE(http::header_source<std::vector<int>>);
    STATIC_REQUIRE_FALSE(http::header_source<std::vector<std::string>>);
    STATIC_REQUIRE_FALSE(http::header_source<std::vector<std::pair<std::string, int>>>);
    STATIC_REQUIRE_FALSE(http::header_source<decltype(takes_int)>);
    STATIC_REQUIRE_FALSE(http::header_source<decltype(returns_int)>);
}

// ---------------------------------------------------------------------------------------------
// x-should-retry and classify
// ---------------------------------------------------------------------------------------------

TEST_CASE("parse_should_retry accepts only true and false", "[http][should-retry]") {
    CHECK(http::parse_should_retry("true") == true);
    CHECK(http::parse_should_retry("false") == false);
    CHECK(http::parse_should_retry(" TRUE\t") == true);
    CHECK(http::parse_should_retry("False") == false);
    for (std::string_view v : {"", " ", "yes", "no", "1", "0", "truee", "tru", "t", "true false", "\"true\""}) {
        INFO("value \"" << std::string(v) << "\"");
        CHECK_FALSE(http::parse_should_retry(v));
    }
}

TEST_CASE("x-should-retry false forbids a retry and keeps the fault", "[http][should-retry]") {
    const verdict v = http::classify(503, {{"x-should-retry", "false"}}, now);
    CHECK(v == verdict{.kind = fault::unavailable, .no_retry = true});
    CHECK_FALSE(v.retryable());
    CHECK(http::classify(400, {{"x-should-retry", "false"}}, now) == verdict{.kind = fault::rejected, .no_retry = true});
}

TEST_CASE("x-should-retry true turns a rejected status into unavailable", "[http][should-retry]") {
    const verdict v = http::classify(400, {{"x-should-retry", "true"}}, now);
    CHECK(v == verdict{.kind = fault::unavailable});
    CHECK(v.retryable());
    CHECK(http::classify(409, {{"x-should-retry", "true"}, {"retry-after", "1"}}, now) ==
          verdict{.kind = fault::unavailable, .retry_after = 1s});
    // Transient faults keep their kind.
    CHECK(http::classify(429, {{"x-should-retry", "true"}}, now) == verdict{.kind = fault::throttled});
    CHECK(http::classify(408, {{"x-should-retry", "true"}}, now) == verdict{.kind = fault::timeout});
}

TEST_CASE("x-should-retry is ignored on a success", "[http][should-retry]") {
    CHECK(http::classify(200, {{"x-should-retry", "false"}}, now) == failover::success);
    CHECK(http::classify(204, {{"x-should-retry", "true"}}, now) == failover::success);
}

TEST_CASE("x-should-retry garbage is ignored", "[http][should-retry][hostile]") {
    CHECK(http::classify(400, {{"x-should-retry", "yes"}}, now) == verdict{.kind = fault::rejected});
    CHECK(http::classify(503, {{"x-should-retry", "0"}}, now) == verdict{.kind = fault::unavailable});
    CHECK(http::classify(503, {{"x-should-retry", ""}}, now) == verdict{.kind = fault::unavailable});
}

TEST_CASE("x-should-retry is ignored when the options say so", "[http][should-retry]") {
    const http::classify_options options{.honour_should_retry = false};
    CHECK(http::classify(400, {{"x-should-retry", "true"}}, now, options) == verdict{.kind = fault::rejected});
    CHECK(http::classify(503, {{"x-should-retry", "false"}}, now, options) == verdict{.kind = fault::unavailable});
}

TEST_CASE("a success never carries a retry_after", "[http][classify]") {
    for (int s : {200, 201, 204, 301, 304}) {
        INFO("status " << s);
        CHECK(http::classify(s, {{"retry-after-ms", "100"}, {"Retry-After", "5"}}, now) == failover::success);
    }
}

TEST_CASE("every failed status carries the server delay", "[http][classify]") {
    CHECK(http::classify(429, {{"retry-after-ms", "100"}}, now) == verdict{.kind = fault::throttled, .retry_after = 100ms});
    CHECK(http::classify(503, {{"Retry-After", "5"}}, now) == verdict{.kind = fault::unavailable, .retry_after = 5s});
    CHECK(http::classify(408, {{"Retry-After", "1"}}, now) == verdict{.kind = fault::timeout, .retry_after = 1s});
    CHECK(http::classify(400, {{"Retry-After", "1"}}, now) == verdict{.kind = fault::rejected, .retry_after = 1s});
    CHECK(http::classify(429, {{"Retry-After", "86400"}}, now) ==
          verdict{.kind = fault::throttled, .retry_after = http::max_server_delay});
    CHECK(http::classify(429, http::header_list{}, now) == verdict{.kind = fault::throttled});
}

TEST_CASE("classify without headers gives only the fault", "[http][classify]") {
    CHECK(http::classify(429) == verdict{.kind = fault::throttled});
    CHECK(http::classify(503) == verdict{.kind = fault::unavailable});
    CHECK(http::classify(200) == failover::success);
}

TEST_CASE("the overloads without now read the system clock", "[http][classify][clock]") {
    // The one test on the real clock: its results do not depend on the time it runs at.
    SECTION("a numeric header") {
        CHECK(http::retry_after({{"retry-after", "3"}}) == 3s);
        CHECK(http::classify(429, {{"retry-after-ms", "1500"}}) == verdict{.kind = fault::throttled, .retry_after = 1500ms});
        const http::classify_options options{};
        CHECK(http::classify(503, {{"Retry-After", "2"}}, options) == verdict{.kind = fault::unavailable, .retry_after = 2s});
    }
    SECTION("a date long past") {
        CHECK(http::retry_after({{"Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT"}}) == 0ns);
    }
}

TEST_CASE("the parsers and classify work in constant expressions", "[http][constexpr]") {
    STATIC_REQUIRE(http::parse_delay_ms("1.5") == 1'500'000ns);
    STATIC_REQUIRE(http::parse_delay_seconds("2") == 2s);
    STATIC_REQUIRE(!http::parse_delay_ms("1500abc"));
    STATIC_REQUIRE(http::parse_delay_ms("99999999999999999999") == http::max_server_delay);
    STATIC_REQUIRE(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now_s) == rfc_example);
    STATIC_REQUIRE(http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now_s) == rfc_example);
    STATIC_REQUIRE(http::parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30s);
    STATIC_REQUIRE(http::parse_should_retry("false") == false);
    STATIC_REQUIRE(http::classify(429).kind == fault::throttled);
    STATIC_REQUIRE(http::classify_status(501) == fault::rejected);

    constexpr sv_pair headers[] = {{"x-should-retry", "true"}, {"Retry-After", "Wed, 01 May 2024 12:00:02 GMT"}};
    STATIC_REQUIRE(http::retry_after(headers, now) == 2s);
    STATIC_REQUIRE(http::classify(400, headers, now) == verdict{.kind = fault::unavailable, .retry_after = 2s});
}

// ---------------------------------------------------------------------------------------------
// event_stream_end

namespace {

bool ends(std::initializer_list<std::string_view> chunks) {
    http::event_stream_end end;
    for (std::string_view c : chunks) end.feed(c);
    return end.done();
}

constexpr bool ends_at_compile_time(std::string_view body) {
    http::event_stream_end end;
    end.feed(body);
    return end.done();
}

// A chat completion stream as Azure OpenAI sends it (abridged), CRLF line ends.
constexpr std::string_view crlf_stream =
    "data: {\"choices\":[],\"prompt_filter_results\":[]}\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"index\":0}]}\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}]}\r\n\r\n"
    "data: [DONE]\r\n\r\n";

}  // namespace

TEST_CASE("the stream end is seen in a whole body", "[http][event-stream]") {
    CHECK(ends({crlf_stream}));
    CHECK(ends({"data: {\"a\":1}\n\ndata: [DONE]\n\n"}));
    CHECK(ends({"data: [DONE]"}));  // no line end yet: the value is complete
}

TEST_CASE("the stream end is seen with or without the space after the colon", "[http][event-stream]") {
    CHECK(ends({"data:[DONE]\n\n"}));
    CHECK(ends({"data: [DONE]\n\n"}));
    CHECK_FALSE(ends({"data:  [DONE]\n\n"}));  // the second space belongs to the value
    CHECK_FALSE(ends({"data:\t[DONE]\n\n"}));
}

TEST_CASE("every line end ends a line: LF, CRLF and a lone CR", "[http][event-stream]") {
    CHECK(ends({"data: 1\ndata: [DONE]\n"}));
    CHECK(ends({"data: 1\r\ndata: [DONE]\r\n"}));
    CHECK(ends({"data: 1\rdata: [DONE]\r"}));
    CHECK(ends({"data: 1\r", "\ndata: [DONE]"}));  // a CRLF split between chunks
    CHECK(ends({"data: 1\r", "\n", "\r\n", "data: [DONE]"}));
    CHECK(ends({": keep-alive\r\rdata: [DONE]"}));
}

TEST_CASE("the stream end is seen at every split of the body into two chunks", "[http][event-stream]") {
    for (std::string_view body : {crlf_stream, std::string_view{"data: 1\n\ndata:[DONE]\n\n"},
                                  std::string_view{"data: 1\r\rdata: [DONE]\r\r"}}) {
        for (std::size_t i = 0; i <= body.size(); ++i) {
            INFO("split at " << i << " of \"" << std::string(body) << "\"");
            CHECK(ends({body.substr(0, i), body.substr(i)}));
        }
    }
}

TEST_CASE("the stream end is seen at every split of the terminator into three chunks", "[http][event-stream]") {
    const std::string body = "data: {\"x\":\"y\"}\r\n\r\ndata: [DONE]\r\n\r\n";
    const std::size_t start = body.find("\r\n\r\ndata");  // from the previous event's line end on
    for (std::size_t i = start; i <= body.size(); ++i) {
        for (std::size_t j = i; j <= body.size(); ++j) {
            INFO("splits at " << i << " and " << j);
            const std::string_view b = body;
            CHECK(ends({b.substr(0, i), b.substr(i, j - i), b.substr(j)}));
        }
    }
}

TEST_CASE("the stream end is seen when fed one byte at a time", "[http][event-stream]") {
    http::event_stream_end end;
    for (std::size_t i = 0; i < crlf_stream.size(); ++i) {
        CHECK_FALSE(end.done());  // not before the last byte of "[DONE]"
        end.feed(crlf_stream.substr(i, 1));
        if (crlf_stream.substr(0, i + 1).ends_with("[DONE]")) break;
    }
    CHECK(end.done());
}

TEST_CASE("a stream without the terminator has not ended", "[http][event-stream]") {
    CHECK_FALSE(ends({}));
    CHECK_FALSE(ends({""}));
    CHECK_FALSE(ends({"data: {\"choices\":[]}\n\n"}));
    CHECK_FALSE(ends({"data: {\"choices\":[]}\n\ndata: [DON"}));  // cut inside the terminator
    CHECK_FALSE(ends({"data: [DONE", "\n\n"}));
    CHECK_FALSE(ends({"data: [done]\n"}));                 // case-sensitive value
    CHECK_FALSE(ends({"Data: [DONE]\n"}));                 // case-sensitive field
    CHECK_FALSE(ends({" data: [DONE]\n"}));                // not at a line start
    CHECK_FALSE(ends({"xdata: [DONE]\n"}));
    CHECK_FALSE(ends({"data [DONE]\n"}));
    CHECK_FALSE(ends({": data: [DONE]\n"}));               // a comment
    CHECK_FALSE(ends({"event: [DONE]\n"}));                // another field
    CHECK_FALSE(ends({"data: {\"content\":\"data: [DONE]\"}\n"}));  // inside a value
    CHECK_FALSE(ends({"data\n[DONE]\n"}));
    CHECK_FALSE(ends({"data:\n[DONE]\n"}));
    // An error body (a 429's JSON) is not a stream and has no end marker.
    CHECK_FALSE(ends({"{\"error\":{\"code\":\"429\",\"message\":\"Please retry after 1 second.\"}}"}));
}

TEST_CASE("a value that begins with the terminator ends the stream, as in the OpenAI clients", "[http][event-stream]") {
    CHECK(ends({"data: [DONE] \n"}));
    CHECK(ends({"data: [DONE]x\n"}));
}

TEST_CASE("one leading byte order mark is skipped", "[http][event-stream]") {
    CHECK(ends({"\xEF\xBB\xBF" "data: [DONE]\n"}));
    CHECK(ends({"\xEF", "\xBB", "\xBF" "data: [DONE]\n"}));
    CHECK_FALSE(ends({"\xEF\xBB" "data: [DONE]\n"}));  // a partial mark is part of the first line
    CHECK(ends({"\xEF\xBB" "data: 1\ndata: [DONE]\n"}));
    CHECK_FALSE(ends({"\xEF\xBB\xBF\xEF\xBB\xBF" "data: [DONE]\n"}));  // only one
    CHECK_FALSE(ends({"data: 1\n\xEF\xBB\xBF" "data: [DONE]\n"}));     // only at the start
}

TEST_CASE("the stream end stays seen, and reset forgets it", "[http][event-stream]") {
    http::event_stream_end end;
    end.feed("data: [DONE]\n\n");
    REQUIRE(end.done());
    end.feed("data: more\n\ngarbage\r");
    CHECK(end.done());
    end.reset();
    CHECK_FALSE(end.done());
    end.feed("data: [DO");
    end.reset();
    end.feed("NE]\n");  // the half-seen terminator was forgotten too
    CHECK_FALSE(end.done());
}

TEST_CASE("the stream end detector works in constant expressions", "[http][event-stream][constexpr]") {
    STATIC_REQUIRE(ends_at_compile_time(crlf_stream));
    STATIC_REQUIRE_FALSE(ends_at_compile_time("data: {}\n\n"));
    STATIC_REQUIRE(sizeof(http::event_stream_end) <= 4);
}
