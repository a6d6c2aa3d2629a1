#include <failover/errors.hpp>

#include <catch2/catch.hpp>

#include <climits>
#include <limits>
#include <stdexcept>
#include <string>

using failover::detail::config_message;

TEST_CASE("a configuration message names the value it got", "[errors]") {
    CHECK(std::string(config_message("retry_options.max_attempts must be >= 1").got(0).c_str()) ==
          "retry_options.max_attempts must be >= 1 (got 0)");
    CHECK(std::string(config_message("x").got(-5, 200).c_str()) == "x (got -5..200)");
    CHECK(std::string(config_message("x").got(LLONG_MIN).c_str()) == "x (got -9223372036854775808)");
    CHECK(std::string(config_message("x").got(LLONG_MAX).c_str()) == "x (got 9223372036854775807)");
}

TEST_CASE("a configuration message longer than its buffer is cut, never overflowed", "[errors]") {
    config_message m("");
    for (int i = 0; i < 100; ++i) m.append("0123456789");
    CHECK(std::string(m.c_str()).size() == 255);
}

TEST_CASE("a configuration error is an invalid_argument carrying the message", "[errors]") {
    try {
        failover::detail::throw_config_error(config_message("breaker.window must be > 0").got(0));
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()) == "breaker.window must be > 0 (got 0)");
        CHECK(dynamic_cast<const failover::config_error*>(&e) != nullptr);
    }
}

TEST_CASE("a configuration message prints real values with three decimals", "[errors]") {
    CHECK(std::string(config_message("f").got_real(0.5).c_str()) == "f (got 0.500)");
    CHECK(std::string(config_message("f").got_real(-2.0).c_str()) == "f (got -2.000)");
    CHECK(std::string(config_message("f").got_real(1.9999).c_str()) == "f (got 2.000)");
    CHECK(std::string(config_message("f").got_real(std::numeric_limits<double>::quiet_NaN()).c_str()).find("nan") != std::string::npos);
    CHECK(std::string(config_message("f").got_real(1e300).c_str()) == "f (got inf)");
}
