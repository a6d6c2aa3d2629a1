// A program outside the project that uses the library as a package would.
#include <failover/failover.hpp>

#include <system_error>

int main() {
    auto p = failover::pipeline();
    auto r = p([] { return std::make_error_code(std::errc::connection_refused); });
    return (!r.ok() && r.verdict().kind == failover::fault::connection && r.report().attempts == 1) ? 0 : 1;
}
