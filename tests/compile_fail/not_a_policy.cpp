// expect: every pipeline argument must be a policy
// An object without run(ctx, next) is not a policy.
#include <failover/failover.hpp>

struct not_a_policy {
    int retries = 3;
};

int main() {
    auto p = failover::pipeline(not_a_policy{});
    auto r = p([] { return failover::verdict{}; });
    return r.ok() ? 0 : 1;
}
