// expect: write `failover::verdict failover_classify\(const YourResult&\)`
// A transport result the library cannot classify is a compile error that tells the user
// what to write.
#include <failover/failover.hpp>

namespace user {
struct reply {
    int status;
};
}  // namespace user

int main() {
    auto p = failover::pipeline();
    auto r = p([] { return user::reply{200}; });
    return r.ok() ? 0 : 1;
}
