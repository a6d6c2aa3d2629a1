// expect: failover cannot classify this result type
// failover::classify on a type with neither a built-in rule nor a failover_classify.
#include <failover/classify.hpp>

struct opaque {};

int main() {
    return failover::classify(opaque{}).ok() ? 0 : 1;
}
