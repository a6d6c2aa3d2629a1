// Writing your own policy: a layer that logs every attempt and its verdict, and a layer with
// per-call state that tags each attempt with how many times this call has been seen.
//
// A policy is any object with
//     template <class Context, class Next> auto run(Context& ctx, Next&& next);
// that calls next() to run the inner layers (and the transport) once and returns its outcome.
#include <failover/failover.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <system_error>

namespace {

// Logs each attempt. One object serves every thread, so it keeps only atomics.
struct attempt_logger {
    std::atomic<long> attempts{0};

    attempt_logger() = default;
    attempt_logger(attempt_logger&&) noexcept {}  // moved into the pipeline before any use

    template <class Context, class Next>
    auto run(Context& ctx, Next&& next) {
        attempts.fetch_add(1, std::memory_order_relaxed);
        const auto started = ctx.now();
        auto out = next();
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(ctx.now() - started);
        if (out.is_rejection())
            std::printf("attempt refused: %s\n", failover::to_string(out.rejection().reason));
        else
            std::printf("attempt %u: %s in %lld us\n", ctx.attempts(), failover::to_string(out.verdict().kind),
                        static_cast<long long>(took.count()));
        return out;
    }
};

// Tries a second time, once, after a short pause: state for one call lives in call_state.
struct second_chance {
    struct call_state {
        bool used = false;
    };

    template <class Context, class Next>
    auto run(Context& ctx, call_state& state, Next&& next) {
        auto out = next();
        if (!state.used && !out.is_rejection() && out.verdict().retryable()) {
            state.used = true;
            ctx.sleep_for(std::chrono::milliseconds(20));
            out = next();
        }
        return out;
    }
};

}  // namespace

int main() {
    auto policy = failover::pipeline(second_chance{}, attempt_logger{});

    int calls = 0;
    auto r = policy([&](const failover::attempt& a) {
        ++calls;
        // The first attempt finds the connection reset; the second one gets through.
        return a.number() == 1 ? std::make_error_code(std::errc::connection_reset) : std::error_code{};
    });

    std::printf("ok=%d attempts=%u waited=%lld ms logged=%ld\n", r.ok(), r.report().attempts,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(r.report().waited).count()),
                policy.get<1>().attempts.load());
    return (r.ok() && calls == 2 && r.report().attempts == 2) ? 0 : 1;
}
