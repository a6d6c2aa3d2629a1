// The core in a build without exceptions (-fno-exceptions): a plain program, since Catch2
// itself needs exceptions. Each check aborts with its line on failure.
#include <failover/failover.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <system_error>

using namespace std::chrono_literals;

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                  \
        }                                                                                  \
    } while (0)

static_assert(FAILOVER_HAS_EXCEPTIONS == 0, "this test must be built with -fno-exceptions");

namespace {
struct virtual_time {
    failover::time_point t{};
    int sleeps = 0;
    failover::time_point now() { return t; }
    void sleep_for(failover::duration d) {
        t += d;
        ++sleeps;
    }
};

struct retry_twice {
    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        auto out = next();
        for (int i = 0; i < 2 && out.verdict().retryable(); ++i) {
            ctx.sleep_for(10ms);
            out = next();
        }
        return out;
    }
};
}  // namespace

int main() {
    virtual_time clock;
    auto p = failover::pipeline(retry_twice{}).with_time(clock);
    int n = 0;
    auto r = p([&](const failover::attempt& a) {
        EXPECT(a.number() == static_cast<unsigned>(n + 1));
        return ++n < 3 ? std::make_error_code(std::errc::connection_reset) : std::error_code{};
    });
    EXPECT(r.ok());
    EXPECT(r.report().attempts == 3);
    EXPECT(r.report().waited == 20ms);
    EXPECT(clock.sleeps == 2);

    auto refused = p([] { return failover::verdict{.kind = failover::fault::rejected}; });
    EXPECT(!refused.ok());
    EXPECT(refused.report().attempts == 1);

    auto late = p([] { return std::error_code{}; }, failover::deadline(clock.now()));
    EXPECT(late.is_rejection());
    EXPECT(late.rejection().reason == failover::rejection_reason::deadline_exceeded);

    EXPECT(failover::classify(std::errc::timed_out).kind == failover::fault::timeout);
    std::puts("no_exceptions_test: all checks passed");
    return 0;
}
