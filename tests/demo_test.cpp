// failover-demo: its region file, its command line, and a run against real endpoints (the
// loopback fault server) with a region file, secrets from the environment.
#include "fault_server.hpp"
#include "region_file.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

using namespace std::chrono_literals;

namespace {

struct run_result {
    int status = -1;
    std::string output;
};

// Runs the demo binary with `args` (a shell-quoted string), stdout and stderr together.
run_result run_demo(const std::string& args) {
    const std::string command = std::string(FAILOVER_DEMO_PATH) + " " + args + " 2>&1";
    run_result r;
    FILE* p = popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    std::array<char, 4096> buf{};
    std::size_t got = 0;
    while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), got);
    const int status = pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string temp_path(const std::string& name) {
    return std::string(FAILOVER_TEST_WORK_DIR) + "/demo_test_" + std::to_string(::getpid()) + "_" + name;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

std::string error_of(const std::string& text) {
    try {
        demo::parse_region_file(text, "regions.conf");
    } catch (const demo::region_file_error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("the shipped example region file parses into its two regions", "[demo]") {
    const auto regions = demo::read_region_file(std::string(FAILOVER_SOURCE_DIR) + "/examples/regions.conf");
    REQUIRE(regions.size() == 2);
    CHECK(regions[0].name == "eastus");
    CHECK(regions[0].auth == demo::auth_kind::api_key);
    CHECK(regions[0].secret_env == "AOAI_KEY_EASTUS");
    CHECK(regions[0].priority == 0);
    CHECK(regions[1].name == "swedencentral");
    CHECK(regions[1].auth == demo::auth_kind::bearer);
    CHECK(regions[1].priority == 1);
    CHECK(regions[1].chat_url() ==
          "https://contoso-sweden.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21");
}

TEST_CASE("the shipped example timeline parses, in time order, over the demo's regions", "[demo]") {
    std::ifstream in(std::string(FAILOVER_SOURCE_DIR) + "/examples/outage.timeline");
    std::stringstream text;
    text << in.rdbuf();
    const auto steps = loopback::parse_timeline(text.str(), {"eastus", "swedencentral"});
    REQUIRE(steps.size() == 7);
    CHECK(steps[1].what.kind == loopback::behaviour::stall);
    CHECK(steps[1].what.delay == 10s);
    CHECK(steps[3].region == 1);
    CHECK(steps[3].what.retry_after == 1s);
    for (std::size_t i = 1; i < steps.size(); ++i) CHECK(steps[i - 1].at <= steps[i].at);
}

TEST_CASE("a bad region file is refused with its line and field named", "[demo]") {
    const std::string head = "[eastus]\nendpoint = https://a.example\ndeployment = d\nsecret_env = K\n";
    CHECK(error_of(head + "endpont = https://b.example\n") ==
          "regions.conf:5: unknown field 'endpont' (fields: endpoint, deployment, auth, secret_env, priority, weight, api_version)");
    CHECK(error_of(head + "auth = key\n") == "regions.conf:5: field 'auth' must be api-key or bearer");
    CHECK(error_of(head + "priority = -1\n") == "regions.conf:5: field 'priority' must be a whole number >= 0");
    CHECK(error_of(head + "weight = 1001\n") == "regions.conf:5: field 'weight' must be a whole number in 0..1000");
    CHECK(error_of(head + "deployment = e\n") == "regions.conf:5: field 'deployment' is given twice for region 'eastus'");
    CHECK(error_of(head + "secret_env = \n") == "regions.conf:5: field 'secret_env' has no value");
    CHECK(error_of(head + "\n\n[eastus]\n") == "regions.conf:7: region 'eastus' is defined twice");
    CHECK(error_of("endpoint = https://a.example\n") == "regions.conf:1: field 'endpoint' comes before any [region-name] section");
    CHECK(error_of(head + "[westus]\nendpoint = https://w.example\nsecret_env = W\n") ==
          "regions.conf:5: region 'westus' has no 'deployment' field");
    CHECK(error_of("[a]\nendpoint = ftp://a.example\n") ==
          "regions.conf:2: field 'endpoint' must start with https:// (or http:// for a local server)");
    CHECK(error_of("[a]\ndeployment = gpt/4\n") ==
          "regions.conf:2: field 'deployment' must be a deployment name, without '/', '?', '#' or spaces");
    CHECK(error_of("[a]\nsecret_env = MY-KEY\n") ==
          "regions.conf:2: field 'secret_env' must name an environment variable (letters, digits, _)");
    CHECK(error_of("[a\n") == "regions.conf:1: a section header is `[region-name]`");
    CHECK(error_of("[a]\njust words\n") == "regions.conf:2: expected `field = value` or `[region-name]`");
    CHECK(error_of("# nothing\n") == "regions.conf: no region: add a [region-name] section per region");
    CHECK(error_of(head + "weight = 0\n") == "regions.conf: every region has weight 0: no region would get traffic");
}

TEST_CASE("secrets come from the environment and errors name the variable, never a value", "[demo]") {
    auto regions = demo::parse_region_file(
        "[a]\nendpoint = https://a.example\ndeployment = d\nsecret_env = KEY_A\n"
        "[b]\nendpoint = https://b.example\ndeployment = d\nsecret_env = KEY_B\nauth = bearer\n",
        "r.conf");
    SECTION("both set") {
        demo::read_secrets(regions, [](const char* name) -> const char* {
            return std::string(name) == "KEY_A" ? "secret-a" : "secret-b";
        });
        CHECK(regions[0].auth_header() == "api-key: secret-a");
        CHECK(regions[1].auth_header() == "Authorization: Bearer secret-b");
    }
    SECTION("one missing") {
        try {
            demo::read_secrets(regions, [](const char* name) -> const char* {
                return std::string(name) == "KEY_A" ? "secret-a" : nullptr;
            });
            FAIL("no error");
        } catch (const demo::region_file_error& e) {
            CHECK(std::string(e.what()) == "region 'b': environment variable KEY_B is not set (it holds the bearer token)");
        }
    }
    SECTION("a line break in a value") {
        try {
            demo::read_secrets(regions, [](const char*) -> const char* { return "secret\r\nX-Injected: 1"; });
            FAIL("no error");
        } catch (const demo::region_file_error& e) {
            const std::string what = e.what();
            CHECK(what.find("KEY_A") != std::string::npos);
            CHECK(what.find("secret") == std::string::npos);
        }
    }
}

TEST_CASE("failover-demo answers --help, and refuses bad arguments and bad files with status 2", "[demo]") {
    const auto help = run_demo("--help");
    CHECK(help.status == 0);
    CHECK(help.output.find("usage: failover-demo") != std::string::npos);

    const auto unknown = run_demo("--fast");
    CHECK(unknown.status == 2);
    CHECK(unknown.output == "failover-demo: unknown option '--fast' (see --help)\n");

    const auto bad_rate = run_demo("--rate lots");
    CHECK(bad_rate.status == 2);
    CHECK(bad_rate.output.find("--rate: 'lots' is not a number") != std::string::npos);

    const std::string file = temp_path("bad.conf");
    write_file(file, "[eastus]\nendpoint = https://a.example\nkey = 1\n");
    const auto bad_file = run_demo("--regions " + file);
    CHECK(bad_file.status == 2);
    CHECK(bad_file.output.find(file + ":3: unknown field 'key'") != std::string::npos);

    const std::string timeline = temp_path("bad.timeline");
    write_file(timeline, "0s eastus healthy\n2s eastus donw\n");
    const auto bad_timeline = run_demo("--timeline " + timeline);
    CHECK(bad_timeline.status == 2);
    CHECK(bad_timeline.output.find("line 2") != std::string::npos);
    CHECK(bad_timeline.output.find("donw") != std::string::npos);
    std::remove(file.c_str());
    std::remove(timeline.c_str());
}

TEST_CASE("failover-demo exits 1 and names the expectation when the drill fails", "[demo]") {
    const std::string timeline = temp_path("down.timeline");
    write_file(timeline, "0s eastus unavailable\n0s swedencentral unavailable\n");
    const std::string svg = temp_path("down.svg");
    const auto r = run_demo("--timeline " + timeline + " --duration 3 --rate 10 --threads 1 --plain --svg " + svg);
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(r.output.find("succeeded          0 (0.00 %)") != std::string::npos);
    CHECK(r.output.find("expectation FAILED success share 0.00 % is below the expected 99.00 %") != std::string::npos);
    CHECK(r.output.find("expectation FAILED no backup region answered after the primary went down") != std::string::npos);
    std::remove(timeline.c_str());
    std::remove(svg.c_str());
}

TEST_CASE("failover-demo drives endpoints from a region file, with their own credentials, and fails over", "[demo]") {
    const std::string key_a = "primary-key-" + std::to_string(::getpid());
    const std::string token_b = "backup-token-" + std::to_string(::getpid());
    loopback::fault_server server({{"eastus", key_a, "gpt-4o-mini"}, {"swedencentral", token_b, "gpt-4o-mini"}});
    const std::string file = temp_path("regions.conf");
    write_file(file, "[eastus]\nendpoint = " + server.base_url(0) +
                         "\ndeployment = gpt-4o-mini\nauth = api-key\nsecret_env = DEMO_TEST_KEY_A\npriority = 0\n\n"
                         "[swedencentral]\nendpoint = " + server.base_url(1) +
                         "/\ndeployment = gpt-4o-mini\nauth = bearer\nsecret_env = DEMO_TEST_TOKEN_B\npriority = 1\n");
    ::setenv("DEMO_TEST_KEY_A", key_a.c_str(), 1);
    ::setenv("DEMO_TEST_TOKEN_B", token_b.c_str(), 1);
    // the primary answers 503 from 1 s to 4 s (the demo process starts meanwhile)
    server.play({{1000ms, 0, {loopback::behaviour::unavailable}}, {4000ms, 0, {loopback::behaviour::healthy}}});
    const std::string svg = temp_path("chart.svg");
    const auto r = run_demo("--regions " + file + " --duration 6 --rate 20 --threads 2 --attempt-timeout 0.5 --plain --svg " + svg);
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.find("expectations       all met") != std::string::npos);
    CHECK(server.stats(0).answered_ok > 0);
    CHECK(server.stats(1).answered_ok > 0);  // the backup took the calls during the outage
    CHECK(server.stats(0).unauthorized == 0);
    CHECK(server.stats(1).unauthorized == 0);  // each region got its own credentials
    CHECK(r.output.find(key_a) == std::string::npos);
    CHECK(r.output.find(token_b) == std::string::npos);
    std::ifstream chart(svg);
    std::stringstream text;
    text << chart.rdbuf();
    CHECK(text.str().rfind("<svg", 0) == 0);
    CHECK(text.str().find("swedencentral") != std::string::npos);
    ::unsetenv("DEMO_TEST_KEY_A");
    ::unsetenv("DEMO_TEST_TOKEN_B");
    std::remove(file.c_str());
    std::remove(svg.c_str());
}
