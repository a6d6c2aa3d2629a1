// expect: the transport returns void
// A transport must return something the library can classify.
#include <failover/failover.hpp>

int main() {
    auto p = failover::pipeline();
    p([] {});
    return 0;
}
