// failover-demo: steady traffic through the library with the real libcurl client, against
// simulated regions on loopback that play an outage timeline (the default), or against real
// endpoints listed in a region file. Shows the regions live, then reports how the failover went
// and writes a timeline chart (SVG).
#include "chart.hpp"
#include "fault_server.hpp"
#include "region_file.hpp"

#include <failover/adapters/curl.hpp>
#include <failover/failover.hpp>

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------------------------------------
// Command line

constexpr const char* usage_text = R"(usage: failover-demo [options]

Sends steady traffic through the failover library with libcurl and shows, live, how calls move
between regions. Without --regions it starts simulated Azure OpenAI regions on 127.0.0.1 and
plays an outage: the primary is healthy, then down (503, then connections refused), then
throttled (429 with retry-after-ms), then healthy again. It ends with a report, a chart
(SVG) and an exit status that says whether the drill met its expectations.

options:
  --regions FILE        drive real endpoints listed in FILE instead of the simulation
                        (format: examples/regions.conf; secrets come from the environment)
  --timeline FILE       the simulated regions' timeline (format: examples/outage.timeline)
  --duration SECONDS    how long traffic runs (default: 25 simulated, 30 with --regions)
  --rate CALLS          calls per second, all threads together (default: 40 simulated,
                        1 with --regions: real calls cost tokens)
  --threads N           client threads, each with its own libcurl handle (default 4)
  --attempt-timeout S   libcurl's limit for one attempt, seconds (default 1; 30 with --regions)
  --expect-success P    the share of calls that must succeed, 0..1 (default 0.99)
  --svg FILE            where the chart goes (default failover-demo.svg)
  --plain               plain lines, one per second, even on a terminal
  --help                this text

exit status: 0 when every expectation was met, 1 when one failed, 2 for bad arguments or a
bad region or timeline file.
)";

struct options {
    std::string regions_file;
    std::string timeline_file;
    std::string svg = "failover-demo.svg";
    std::optional<double> duration;
    std::optional<double> rate;
    unsigned threads = 4;
    std::optional<double> attempt_timeout;
    double expect_success = 0.99;
    bool plain = false;
};

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

double parse_number(const std::string& flag, const char* text, double lo, double hi) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
        std::ostringstream m;
        m << flag << ": '" << text << "' is not a number in [" << lo << ", " << hi << "]";
        throw usage_error(m.str());
    }
    return v;
}

std::optional<options> parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) throw usage_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--help" || a == "-h") return std::nullopt;
        else if (a == "--regions") o.regions_file = value();
        else if (a == "--timeline") o.timeline_file = value();
        else if (a == "--svg") o.svg = value();
        else if (a == "--duration") o.duration = parse_number(a, value(), 1, 24 * 3600);
        else if (a == "--rate") o.rate = parse_number(a, value(), 0.1, 10000);
        else if (a == "--threads") o.threads = static_cast<unsigned>(parse_number(a, value(), 1, 64));
        else if (a == "--attempt-timeout") o.attempt_timeout = parse_number(a, value(), 0.01, 600);
        else if (a == "--expect-success") o.expect_success = parse_number(a, value(), 0, 1);
        else if (a == "--plain") o.plain = true;
        else throw usage_error("unknown option '" + a + "'");
    }
    if (!o.regions_file.empty() && !o.timeline_file.empty())
        throw usage_error("--timeline plays on the simulated regions; it cannot be combined with --regions");
    return o;
}

// The simulated outage: two regions by priority, the primary down, then throttled, then back.
constexpr const char* default_timeline = R"(# at   region         behaviour     parameters
0s      eastus         healthy
6s      eastus         unavailable   # 503 Service Unavailable
10s     eastus         refuse        # the region stops accepting connections
14s     eastus         throttled     retry_after=1500ms
19s     eastus         healthy
)";

// ---------------------------------------------------------------------------------------------
// What the run measures. Written by the client threads, read by the view and the report.

constexpr double bucket_seconds = 0.5;
// The transport notes a 429's wait before the library does (it sets the region's cool-down once
// the transport has returned): an attempt that started within this much of the 429 may have
// been chosen before the cool-down existed, and is not counted as early.
constexpr double retry_after_slack = 0.25;

struct metrics {
    metrics(std::size_t regions, double duration)
        : regions(regions), buckets(static_cast<std::size_t>(duration / bucket_seconds) + 8),
          answered(regions * buckets), failed(buckets), attempts(regions), faults(regions), throttles(regions),
          throttle_window(regions) {}

    std::size_t regions, buckets;
    std::vector<std::atomic<unsigned>> answered;  // [region * buckets + bucket]
    std::vector<std::atomic<unsigned>> failed;    // calls that failed, by bucket
    std::vector<std::atomic<std::uint64_t>> attempts, faults, throttles;
    std::atomic<std::uint64_t> calls{0}, ok{0}, attempts_total{0}, max_attempts{0};
    std::atomic<std::uint64_t> backup_calls{0};  // answered by a region of lower priority than the best
    std::atomic<std::uint64_t> moved_calls{0};   // moved to another region after a fault within the call
    std::atomic<std::uint64_t> early_attempts{0};
    std::atomic<std::int64_t> retry_after_ms_total{0};

    struct window {  // a 429's Retry-After, as this client saw it
        std::mutex m;
        double seen = -1, until = -1;
    };
    std::vector<window> throttle_window;

    std::mutex m;  // the rest is rare or merged once
    std::map<std::string, std::uint64_t> failures;  // why calls failed
    struct answer {
        double at;
        std::size_t region;
    };
    std::vector<answer> answers;  // every successful call: when it ended and which region answered

    std::size_t bucket(double t) const {
        const auto b = static_cast<std::size_t>(std::max(0.0, t) / bucket_seconds);
        return std::min(b, buckets - 1);
    }
};

struct breaker_log {
    struct entry {
        double at;
        std::size_t region;
        failover::breaker_state from, to;
        failover::breaker_reason why;
    };
    std::mutex m;
    std::vector<entry> entries;
};

// ---------------------------------------------------------------------------------------------
// The transport: the user's own libcurl code, unchanged by failover except for three lines that
// hand the attempt's deadline to the handle and its result back to the library.

struct client {
    CURL* handle = curl_easy_init();
    std::string body;
    client() {
        if (handle == nullptr) throw std::runtime_error("curl_easy_init failed");
    }
    ~client() { curl_easy_cleanup(handle); }
    client(const client&) = delete;
    client& operator=(const client&) = delete;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

constexpr const char* request_body =
    R"({"messages":[{"role":"user","content":"Say hello in one word."}],"max_tokens":5})";

// ---------------------------------------------------------------------------------------------
// Live view

std::string fmt(const char* f, auto... args) {
    char b[512];
    std::snprintf(b, sizeof b, f, args...);
    return b;
}

std::string state_text(failover::region_snapshot s) {
    std::string t = to_string(s.health.state);
    if (s.cooldown_left > failover::duration::zero())
        t += fmt(" cool %.1fs", std::chrono::duration<double>(s.cooldown_left).count());
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    // ------------------------------------------------------------------ configuration
    options opt;
    try {
        auto parsed = parse_args(argc, argv);
        if (!parsed) {
            std::fputs(usage_text, stdout);
            return 0;
        }
        opt = *parsed;
    } catch (const usage_error& e) {
        std::fprintf(stderr, "failover-demo: %s (see --help)\n", e.what());
        return 2;
    }
    const bool simulated = opt.regions_file.empty();
    const double duration = opt.duration.value_or(simulated ? 25.0 : 30.0);
    const double rate = opt.rate.value_or(simulated ? 40.0 : 1.0);
    const double attempt_timeout = opt.attempt_timeout.value_or(simulated ? 1.0 : 30.0);

    std::vector<demo::region_entry> regions;
    std::unique_ptr<loopback::fault_server> server;
    std::vector<loopback::step> timeline;
    try {
        if (simulated) {
            // Keys made up for this run, one per region: a call routed with the wrong one fails.
            std::random_device rd;
            std::vector<loopback::region_config> config;
            for (const char* name : {"eastus", "swedencentral"}) {
                demo::region_entry r;
                r.name = name;
                r.deployment = "gpt-4o-mini";
                r.secret = fmt("sim-%08x%08x", rd(), rd());
                r.priority = static_cast<unsigned>(regions.size());
                regions.push_back(r);
                config.push_back({r.name, r.secret, r.deployment});
            }
            std::vector<std::string> names;
            for (const auto& r : regions) names.push_back(r.name);
            const std::string text = opt.timeline_file.empty() ? std::string(default_timeline) : demo::read_text(opt.timeline_file);
            try {
                timeline = loopback::parse_timeline(text, names);
            } catch (const std::invalid_argument& e) {
                throw demo::region_file_error((opt.timeline_file.empty() ? std::string("built-in timeline") : opt.timeline_file) +
                                              ": " + e.what());
            }
            server = std::make_unique<loopback::fault_server>(config);
            for (std::size_t i = 0; i < regions.size(); ++i) regions[i].endpoint = server->base_url(i);
        } else {
            regions = demo::read_region_file(opt.regions_file);
            demo::read_secrets(regions, [](const char* name) { return std::getenv(name); });
        }
    } catch (const demo::region_file_error& e) {
        std::fprintf(stderr, "failover-demo: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "failover-demo: cannot start: %s\n", e.what());
        return 2;
    }
    const std::size_t n = regions.size();

    // ------------------------------------------------------------------ the library
    // After a fault a call moves on in the range's order: list the regions by priority.
    std::stable_sort(regions.begin(), regions.end(),
                     [](const demo::region_entry& a, const demo::region_entry& b) { return a.priority < b.priority; });
    std::vector<failover::priority_groups::group> groups;
    for (const auto& r : regions) groups.push_back({r.priority, r.weight});

    failover::regions selector{regions, failover::priority_groups(groups.begin(), groups.end()),
                               failover::circuit_breaker_options{.consecutive_failures = 3,
                                                                 .open_for = 2s,
                                                                 .open_growth = 1.5,
                                                                 .max_open_for = 3s},
                               failover::regions_options{.max_cooldown = 30s, .default_cooldown = 1s}};
    auto call = failover::pipeline(failover::retry{{.max_attempts = 4,
                                                    .backoff = failover::exponential{.initial = 50ms, .factor = 2, .cap = 1s},
                                                    .jitter = failover::jitter::full}},
                                   failover::ref(selector));

    const auto t0 = steady::now();
    auto since_start = [t0](steady::time_point t = steady::now()) { return std::chrono::duration<double>(t - t0).count(); };

    breaker_log events;
    std::vector<std::function<void(const failover::breaker_event&)>> listeners;
    listeners.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        listeners.emplace_back([&events, &since_start, i](const failover::breaker_event& e) {
            std::lock_guard lock(events.m);
            events.entries.push_back({since_start(), i, e.from, e.to, e.why});
        });
        selector.breaker(i).on_transition(listeners.back());
    }

    struct curl_global {  // libcurl's global set-up, before any thread uses it
        curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
        ~curl_global() { curl_global_cleanup(); }
    } curl_setup;
    metrics m(n, duration);
    std::vector<curl_slist*> headers(n, nullptr);
    for (std::size_t i = 0; i < n; ++i) {
        headers[i] = curl_slist_append(headers[i], "Content-Type: application/json");
        headers[i] = curl_slist_append(headers[i], regions[i].auth_header().c_str());
    }
    std::vector<std::string> urls;
    for (const auto& r : regions) urls.push_back(r.chat_url());

    // ------------------------------------------------------------------ traffic
    const auto attempt_limit = std::chrono::duration_cast<failover::duration>(std::chrono::duration<double>(attempt_timeout));
    std::atomic<bool> stop{false};
    auto worker = [&](unsigned id) {
        client c;
        std::vector<metrics::answer> answers;
        answers.reserve(static_cast<std::size_t>(duration * rate / opt.threads) + 16);
        curl_easy_setopt(c.handle, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c.handle, CURLOPT_WRITEDATA, &c.body);
        curl_easy_setopt(c.handle, CURLOPT_POSTFIELDS, request_body);
        curl_easy_setopt(c.handle, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");  // the simulation never goes through a proxy
        const auto period = std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(opt.threads / rate));
        auto next = t0 + period * id / opt.threads;
        while (!stop.load(std::memory_order_relaxed)) {
            std::this_thread::sleep_until(next);
            if (stop.load(std::memory_order_relaxed) || since_start() >= duration) break;
            next = std::max(next + period, steady::now() - period);

            bool moved = false;
            std::size_t last_region = 0;
            unsigned attempts = 0;
            auto r = call(
                [&](const failover::attempt& a) {
                    const std::size_t i = a.region_index();
                    const double started = since_start();
                    ++attempts;
                    moved = moved || (a.number() > 1 && a.is_failover());
                    last_region = i;
                    {
                        auto& w = m.throttle_window[i];
                        std::lock_guard lock(w.m);
                        if (started > w.seen + retry_after_slack && started < w.until) ++m.early_attempts;
                    }
                    c.body.clear();
                    curl_easy_setopt(c.handle, CURLOPT_URL, urls[i].c_str());
                    curl_easy_setopt(c.handle, CURLOPT_HTTPHEADER, headers[i]);
                    failover::curl::apply_deadline(c.handle, a, {.total = attempt_limit, .connect = attempt_limit});
                    const failover::curl::transfer t = failover::curl::finish(c.handle, curl_easy_perform(c.handle));

                    const failover::verdict v = failover::curl::classify(t);
                    ++m.attempts[i];
                    if (v.kind == failover::fault::throttled) {
                        ++m.throttles[i];
                        if (v.retry_after) {
                            const double wait = std::chrono::duration<double>(*v.retry_after).count();
                            m.retry_after_ms_total += static_cast<std::int64_t>(wait * 1000);
                            auto& w = m.throttle_window[i];
                            std::lock_guard lock(w.m);
                            w.seen = since_start();
                            w.until = w.seen + wait;
                        }
                    } else if (v.failed()) {
                        ++m.faults[i];
                    } else {
                        ++m.answered[i * m.buckets + m.bucket(since_start())];
                    }
                    return t;
                },
                simulated ? failover::duration(5s) : failover::duration(120s));

            ++m.calls;
            m.attempts_total += attempts;
            if (moved) ++m.moved_calls;
            std::uint64_t seen = m.max_attempts.load();
            while (attempts > seen && !m.max_attempts.compare_exchange_weak(seen, attempts)) {
            }
            if (r.ok()) {
                ++m.ok;
                if (regions[last_region].priority > regions[0].priority) ++m.backup_calls;
                answers.push_back({since_start(), last_region});
            } else {
                ++m.failed[m.bucket(since_start())];
                std::string why = r.is_rejection() ? std::string("rejected: ") + to_string(r.rejection().reason)
                                                   : std::string("last attempt: ") + to_string(r.verdict().kind);
                std::lock_guard lock(m.m);
                ++m.failures[why];
            }
        }
        std::lock_guard lock(m.m);
        m.answers.insert(m.answers.end(), answers.begin(), answers.end());
    };

    const bool live = !opt.plain && isatty(STDOUT_FILENO) != 0;
    std::printf("failover-demo: %s, %zu regions, %.0f calls/s on %u threads for %.0f s\n",
                simulated ? "simulated regions on 127.0.0.1" : opt.regions_file.c_str(), n, rate, opt.threads, duration);
    for (std::size_t i = 0; i < n; ++i)
        std::printf("  region %-14s priority %u  %s\n", regions[i].name.c_str(), regions[i].priority,
                    regions[i].endpoint.c_str());
    std::fflush(stdout);

    if (server) server->play(timeline);
    const double timeline_zero = since_start();  // the timeline's times count from here
    std::vector<std::thread> threads;
    for (unsigned id = 0; id < opt.threads; ++id) threads.emplace_back(worker, id);

    // ------------------------------------------------------------------ live view
    std::vector<std::uint64_t> last_answered(n, 0);
    std::size_t drawn = 0;
    double last_line = -1;
    auto answered_total = [&](std::size_t i) {
        std::uint64_t s = 0;
        for (std::size_t b = 0; b < m.buckets; ++b) s += m.answered[i * m.buckets + b].load();
        return s;
    };
    auto answered_in = [&](std::size_t i, double from, double to) {
        std::uint64_t s = 0;
        for (std::size_t b = m.bucket(from); b < m.bucket(to); ++b) s += m.answered[i * m.buckets + b].load();
        return s;
    };
    while (since_start() < duration) {
        std::this_thread::sleep_for(live ? 250ms : 100ms);
        const double t = std::min(since_start(), duration);
        const auto now = failover::clock::now();
        if (live) {
            std::vector<std::string> lines;
            lines.push_back(fmt("t = %5.1f s of %.0f s   calls %llu  ok %llu  failed %llu  by a backup %llu  attempts/call %.2f", t,
                                duration, (unsigned long long)m.calls.load(), (unsigned long long)m.ok.load(),
                                (unsigned long long)(m.calls.load() - m.ok.load()), (unsigned long long)m.backup_calls.load(),
                                m.calls.load() ? double(m.attempts_total.load()) / double(m.calls.load()) : 0.0));
            lines.push_back(fmt("  %-14s %-18s %-13s %8s %9s %7s %7s", "region", "breaker", "server", "calls/s", "answered",
                                "faults", "429s"));
            for (std::size_t i = 0; i < n; ++i) {
                const double from = std::max(0.0, t - 2.0);
                lines.push_back(fmt("  %-14s %-18s %-13s %8.1f %9llu %7llu %7llu", regions[i].name.c_str(),
                                    state_text(selector.snapshot(i, now)).c_str(),
                                    server ? loopback::to_string(server->get(i).kind) : "-",
                                    double(answered_in(i, from, t)) / std::max(bucket_seconds, double(m.bucket(t) - m.bucket(from)) * bucket_seconds),
                                    (unsigned long long)answered_total(i), (unsigned long long)m.faults[i].load(),
                                    (unsigned long long)m.throttles[i].load()));
            }
            {
                std::lock_guard lock(events.m);
                const std::size_t shown = std::min<std::size_t>(events.entries.size(), 4);
                for (std::size_t k = events.entries.size() - shown; k < events.entries.size(); ++k) {
                    const auto& e = events.entries[k];
                    lines.push_back(fmt("  %6.2f s  %s breaker %s -> %s (%s)", e.at, regions[e.region].name.c_str(),
                                        to_string(e.from), to_string(e.to), to_string(e.why)));
                }
            }
            std::string out;
            if (drawn > 0) out += fmt("\x1b[%zuA", drawn);
            for (const auto& l : lines) out += "\x1b[2K" + l + "\n";
            for (std::size_t k = lines.size(); k < drawn; ++k) out += "\x1b[2K\n";
            drawn = std::max(drawn, lines.size());
            std::fputs(out.c_str(), stdout);
            std::fflush(stdout);
        } else if (t - last_line >= 1.0 || t >= duration) {
            last_line = std::floor(t);
            std::string line = fmt("t=%4.0fs", std::floor(t));
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t a = answered_total(i);
                line += fmt("  %s %s %llu/s", regions[i].name.c_str(), state_text(selector.snapshot(i, now)).c_str(),
                            (unsigned long long)(a - last_answered[i]));
                last_answered[i] = a;
            }
            line += fmt("  | calls %llu ok %llu by a backup %llu", (unsigned long long)m.calls.load(),
                        (unsigned long long)m.ok.load(), (unsigned long long)m.backup_calls.load());
            std::puts(line.c_str());
            std::fflush(stdout);
        }
    }
    stop = true;
    for (auto& th : threads) th.join();
    for (std::size_t i = 0; i < n; ++i) selector.breaker(i).clear_listener();
    for (curl_slist* h : headers) curl_slist_free_all(h);

    // ------------------------------------------------------------------ report
    struct window {
        std::size_t region;
        double from, to;
        std::string label;
        bool failing;  // the demo's calls fail there (a slow answer within the attempt limit does not)
    };
    std::vector<window> faulty;  // from the timeline, within the run: when each region was not healthy
    {
        auto failing = [&](const loopback::fault& f) {
            switch (f.kind) {
                case loopback::behaviour::healthy:
                case loopback::behaviour::stream_cut: return false;  // the demo's calls are not streamed
                case loopback::behaviour::slow: return std::chrono::duration<double>(f.delay).count() >= attempt_timeout;
                default: return true;
            }
        };
        std::vector<std::optional<window>> open(n);
        for (const auto& s : timeline) {
            const double at = timeline_zero + std::chrono::duration<double>(s.at).count();
            if (at >= duration) break;
            if (open[s.region]) {
                open[s.region]->to = at;
                if (at > open[s.region]->from) faulty.push_back(*open[s.region]);
            }
            open[s.region].reset();
            if (s.what.kind != loopback::behaviour::healthy)
                open[s.region] = window{s.region, at, duration, loopback::to_string(s.what.kind), failing(s.what)};
        }
        for (std::size_t i = 0; i < n; ++i)
            if (open[i]) faulty.push_back(*open[i]);
    }

    const std::uint64_t calls = m.calls.load(), ok = m.ok.load();
    const double share = calls ? double(ok) / double(calls) : 0.0;
    std::vector<std::string> unmet;
    std::printf("\n== report\n");
    std::printf("calls              %llu in %.1f s (%.1f/s), %u threads\n", (unsigned long long)calls, duration,
                double(calls) / duration, opt.threads);
    std::printf("succeeded          %llu (%.2f %%)\n", (unsigned long long)ok, 100.0 * share);
    {
        std::lock_guard lock(m.m);
        for (const auto& [why, count] : m.failures) std::printf("failed             %llu  %s\n", (unsigned long long)count, why.c_str());
    }
    std::printf("attempts per call  %.3f on average, %llu at most\n", calls ? double(m.attempts_total.load()) / double(calls) : 0.0,
                (unsigned long long)m.max_attempts.load());
    std::printf("failed over        %llu calls answered by a backup region; %llu of them moved there after a fault in the call\n",
                (unsigned long long)m.backup_calls.load(), (unsigned long long)m.moved_calls.load());
    for (std::size_t i = 0; i < n; ++i)
        std::printf("region %-14s answered %llu, faults %llu, 429s %llu\n", regions[i].name.c_str(),
                    (unsigned long long)answered_total(i), (unsigned long long)m.faults[i].load(),
                    (unsigned long long)m.throttles[i].load());
    if (calls == 0 || share < opt.expect_success)
        unmet.push_back(fmt("success share %.2f %% is below the expected %.2f %%", 100.0 * share, 100.0 * opt.expect_success));

    // When did answers move away from the primary, and when did they come back?
    std::sort(m.answers.begin(), m.answers.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
    auto first_answer = [&](std::size_t region, bool from_region, double after) -> std::optional<double> {
        for (const auto& a : m.answers)
            if (a.at >= after && (a.region == region) == from_region) return a.at;
        return std::nullopt;
    };
    std::vector<breaker_log::entry> log;
    {
        std::lock_guard lock(events.m);
        log = events.entries;
    }
    for (const window& w : faulty) {
        if (w.region != 0) continue;
        std::printf("%s %s %s from %.1f s to %.1f s\n", w.failing ? "outage            " : "degraded          ",
                    regions[0].name.c_str(), w.label.c_str(), w.from, w.to);
    }
    // The primary's outage: from the start of its first failing window to the end of its last.
    std::optional<double> down_at, back_at;
    for (const window& w : faulty)
        if (w.region == 0 && w.failing) {
            if (!down_at) down_at = w.from;
            back_at = w.to < duration ? std::optional<double>(w.to) : std::nullopt;
        }
    if (down_at && n > 1) {
        const auto moved = first_answer(0, false, *down_at);
        if (moved) {
            std::printf("time to fail over  %.0f ms (from the primary's outage to the first answer from a backup region)\n",
                        1000 * (*moved - *down_at));
            if (*moved - *down_at > 2.0) unmet.push_back("failing over took more than 2 s");
        } else {
            unmet.push_back("no backup region answered after the primary went down");
        }
        for (const auto& e : log)
            if (e.region == 0 && e.to == failover::breaker_state::open && e.at >= *down_at) {
                std::printf("primary breaker    opened at %.2f s, %.0f ms into the outage (%s)\n", e.at, 1000 * (e.at - *down_at),
                            to_string(e.why));
                break;
            }
    }
    if (back_at && duration - *back_at >= 3.0) {
        const auto back = first_answer(0, true, *back_at);
        if (back) {
            std::printf("time to fail back  %.0f ms (from the primary's recovery to its first answer)\n", 1000 * (*back - *back_at));
            if (*back - *back_at > 5.0) unmet.push_back("failing back took more than 5 s");
            const double tail = std::max(*back + 1.0, duration - 3.0);
            std::uint64_t primary = answered_in(0, tail, duration), all = 0;
            for (std::size_t i = 0; i < n; ++i) all += answered_in(i, tail, duration);
            if (all > 0 && double(primary) < 0.9 * double(all))
                unmet.push_back(fmt("after failing back the primary answered only %.0f %% of the calls", 100.0 * double(primary) / double(all)));
        } else {
            unmet.push_back("traffic never came back to the primary after it healed");
        }
    }
    std::uint64_t throttles = 0;
    for (std::size_t i = 0; i < n; ++i) throttles += m.throttles[i].load();
    std::printf("Retry-After        %llu answers asked to wait (%.1f s in all); attempts sent before the wait was over: %llu\n",
                (unsigned long long)throttles, double(m.retry_after_ms_total.load()) / 1000.0,
                (unsigned long long)m.early_attempts.load());
    if (m.early_attempts.load() > 0) unmet.push_back("attempts were sent to a region before its Retry-After ran out");
    std::printf("breaker events    ");
    if (log.empty()) std::printf(" none");
    for (const auto& e : log)
        std::printf(" %.1fs %s:%s", e.at, regions[e.region].name.c_str(), to_string(e.to));
    std::printf("\n");

    // ------------------------------------------------------------------ chart
    demo::chart_input chart;
    chart.title = simulated ? "failover-demo: simulated outage of " + regions[0].name : "failover-demo: " + opt.regions_file;
    chart.bucket_seconds = bucket_seconds;
    chart.duration = duration;
    const std::size_t used = std::min(m.buckets, static_cast<std::size_t>(std::ceil(duration / bucket_seconds)));
    for (std::size_t i = 0; i < n; ++i) {
        demo::chart_series s{regions[i].name, {}};
        for (std::size_t b = 0; b < used; ++b) s.per_second.push_back(m.answered[i * m.buckets + b].load() / bucket_seconds);
        chart.series.push_back(std::move(s));
    }
    for (std::size_t b = 0; b < used; ++b) chart.failed_per_second.push_back(m.failed[b].load() / bucket_seconds);
    for (const window& w : faulty) chart.windows.push_back({w.region, w.from, w.to, regions[w.region].name + ": " + w.label});
    for (const auto& e : log)
        if (e.to == failover::breaker_state::open)
            chart.marks.push_back({e.region, e.at, regions[e.region].name + " breaker opened (" + to_string(e.why) + ")"});
    {
        std::ofstream svg(opt.svg, std::ios::binary);
        svg << demo::render_chart(chart);
        if (!svg) {
            std::fprintf(stderr, "failover-demo: cannot write %s\n", opt.svg.c_str());
            unmet.push_back("the chart could not be written");
        } else {
            std::printf("chart              %s\n", opt.svg.c_str());
        }
    }

    if (unmet.empty()) {
        std::printf("expectations       all met\n");
        return 0;
    }
    for (const auto& u : unmet) std::printf("expectation FAILED %s\n", u.c_str());
    return 1;
}
