#include <failover/classify.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <ios>
#include <stdexcept>
#include <system_error>

using namespace std::chrono_literals;
using failover::fault;
using failover::verdict;

namespace {

fault of(std::errc e) { return failover::classify(std::make_error_code(e)).kind; }

}  // namespace

namespace user {
struct reply {
    int status = 200;
};
verdict failover_classify(const reply& r) {
    return r.status == 200 ? verdict{} : verdict{.kind = fault::unavailable, .retry_after = 1s};
}

// A user type derived from a built-in one: the user's rule wins over the built-in.
struct special_error : std::system_error {
    using std::system_error::system_error;
};
verdict failover_classify(const special_error&) { return verdict{.kind = fault::throttled}; }
}  // namespace user

TEST_CASE("errc timeouts are timeouts", "[classify]") {
    CHECK(of(std::errc::timed_out) == fault::timeout);
    CHECK(of(std::errc::stream_timeout) == fault::timeout);
    CHECK(of(std::errc::resource_unavailable_try_again) == fault::timeout);
    CHECK(of(std::errc::operation_would_block) == fault::timeout);
}

TEST_CASE("errc values that mean the region cannot be reached are connection faults", "[classify]") {
    for (std::errc e : {std::errc::connection_refused, std::errc::host_unreachable, std::errc::network_unreachable,
                        std::errc::network_down, std::errc::no_link, std::errc::address_not_available}) {
        INFO(std::make_error_code(e).message());
        CHECK(of(e) == fault::connection);
    }
}

TEST_CASE("errc values that mean the exchange broke are resets", "[classify]") {
    for (std::errc e : {std::errc::connection_reset, std::errc::connection_aborted, std::errc::broken_pipe,
                        std::errc::network_reset, std::errc::not_connected, std::errc::protocol_error}) {
        INFO(std::make_error_code(e).message());
        CHECK(of(e) == fault::reset);
    }
}

TEST_CASE("a cancelled or interrupted call is rejected and never retried", "[classify]") {
    for (std::errc e : {std::errc::operation_canceled, std::errc::interrupted}) {
        const verdict v = failover::classify(std::make_error_code(e));
        CHECK(v.kind == fault::rejected);
        CHECK(v.no_retry);
    }
}

TEST_CASE("other errc values are rejected", "[classify]") {
    for (std::errc e : {std::errc::permission_denied, std::errc::message_size, std::errc::invalid_argument,
                        std::errc::no_such_file_or_directory}) {
        const verdict v = failover::classify(std::make_error_code(e));
        CHECK(v.kind == fault::rejected);
        CHECK_FALSE(v.retryable());
    }
}

TEST_CASE("an empty error code is a success", "[classify]") {
    CHECK(failover::classify(std::error_code{}).ok());
}

TEST_CASE("system_category codes are mapped through their portable condition", "[classify]") {
    CHECK(failover::classify(std::error_code(ECONNRESET, std::system_category())).kind == fault::reset);
    CHECK(failover::classify(std::error_code(ETIMEDOUT, std::system_category())).kind == fault::timeout);
}

TEST_CASE("codes of a category the library does not know are rejected", "[classify]") {
    // iostream_category has no POSIX equivalent.
    const verdict v = failover::classify(std::make_error_code(std::io_errc::stream));
    CHECK(v.kind == fault::rejected);
}

TEST_CASE("a bare errc value is classified like its error code", "[classify]") {
    CHECK(failover::classify(std::errc::connection_refused).kind == fault::connection);
}

TEST_CASE("a system_error and types derived from it are classified by their code", "[classify]") {
    CHECK(failover::classify(std::system_error(std::make_error_code(std::errc::broken_pipe))).kind == fault::reset);
    // std::ios_base::failure derives from std::system_error.
    CHECK(failover::classify(std::ios_base::failure("x", std::make_error_code(std::errc::timed_out))).kind ==
          fault::timeout);
}

TEST_CASE("a user type is classified by its failover_classify found by ADL", "[classify]") {
    STATIC_REQUIRE(failover::classifiable<user::reply>);
    CHECK(failover::classify(user::reply{200}).ok());
    const verdict v = failover::classify(user::reply{503});
    CHECK(v.kind == fault::unavailable);
    CHECK(v.retry_after == 1s);
}

TEST_CASE("a user rule takes precedence over the built-in rules", "[classify]") {
    const user::special_error e(std::make_error_code(std::errc::connection_reset));
    CHECK(failover::classify(e).kind == fault::throttled);
}

TEST_CASE("a verdict classifies as itself", "[classify]") {
    constexpr verdict v{.kind = fault::reset, .no_retry = true};
    STATIC_REQUIRE(failover::classify(v) == v);
}

TEST_CASE("the classifiable concept tells known types from unknown ones", "[classify]") {
    STATIC_REQUIRE(failover::classifiable<std::error_code>);
    STATIC_REQUIRE(failover::classifiable<std::system_error>);
    STATIC_REQUIRE(failover::classifiable<verdict>);
    STATIC_REQUIRE_FALSE(failover::classifiable<int>);
    STATIC_REQUIRE_FALSE(failover::classifiable<std::runtime_error>);
}

TEST_CASE("exceptions are classified by type: system_error by code and anything else rejected", "[classify]") {
    CHECK(failover::classify_exception(std::make_exception_ptr(
                                           std::system_error(std::make_error_code(std::errc::connection_refused))))
              .kind == fault::connection);
    CHECK(failover::classify_exception(std::make_exception_ptr(std::runtime_error("boom"))).kind == fault::rejected);
    CHECK(failover::classify_exception(std::make_exception_ptr(42)).kind == fault::rejected);
    CHECK(failover::classify_exception(std::exception_ptr{}).ok());
}
