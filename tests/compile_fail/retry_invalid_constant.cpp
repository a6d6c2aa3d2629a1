// expect: retry_options.max_attempts must be >= 1
// A constant configuration out of range is a compile error that names the field.
#include <failover/retry.hpp>

constexpr failover::retry policy{{.max_attempts = 0}};

int main() {
    return static_cast<int>(policy.options().max_attempts);
}
