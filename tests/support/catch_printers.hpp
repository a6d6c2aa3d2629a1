// Test support: Catch2 prints faults and verdicts by name in failed checks.
#ifndef FAILOVER_TESTS_CATCH_PRINTERS_HPP_INCLUDED
#define FAILOVER_TESTS_CATCH_PRINTERS_HPP_INCLUDED

#include <failover/fault.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace Catch {
template <>
struct StringMaker<failover::fault> {
    static std::string convert(failover::fault f) { return failover::to_string(f); }
};
template <>
struct StringMaker<failover::verdict> {
    static std::string convert(const failover::verdict& v) {
        std::string out = std::string("{") + failover::to_string(v.kind);
        if (v.retry_after) out += ", retry_after " + std::to_string(v.retry_after->count()) + " ns";
        if (v.no_retry) out += ", no_retry";
        return out + "}";
    }
};
}  // namespace Catch

#endif
