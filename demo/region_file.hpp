// failover-demo: the region file. One [section] per region, `key = value` lines:
//
//   # Azure OpenAI in two regions; secrets stay in the environment
//   [eastus]
//   endpoint    = https://contoso-eastus.openai.azure.com
//   deployment  = gpt-4o-mini
//   auth        = api-key                # or: bearer (a Microsoft Entra ID access token)
//   secret_env  = AOAI_KEY_EASTUS        # the environment variable holding the key or token
//   priority    = 0                      # lower first; equal priorities share by weight
//   weight      = 1
//   api_version = 2024-10-21             # optional, this is the default
//
// Regions are listed by priority order in the file's order of sections. A secret is read from
// the environment when the program starts and is never printed: errors name the variable.
#ifndef FAILOVER_DEMO_REGION_FILE_HPP_INCLUDED
#define FAILOVER_DEMO_REGION_FILE_HPP_INCLUDED

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace demo {

enum class auth_kind { api_key, bearer };

/// One region as the demo drives it. `secret` is filled from the environment.
struct region_entry {
    std::string name;
    std::string endpoint;
    std::string deployment;
    std::string api_version = "2024-10-21";
    auth_kind auth = auth_kind::api_key;
    std::string secret_env;
    unsigned priority = 0;
    unsigned weight = 1;
    std::string secret;  // never printed

    /// The chat completions URL of this region.
    std::string chat_url() const {
        std::string base = endpoint;
        while (!base.empty() && base.back() == '/') base.pop_back();
        return base + "/openai/deployments/" + deployment + "/chat/completions?api-version=" + api_version;
    }
    /// The authentication header line, for libcurl's header list.
    std::string auth_header() const {
        return auth == auth_kind::api_key ? "api-key: " + secret : "Authorization: Bearer " + secret;
    }
};

/// A bad region file: the message names the file, the line and the field.
class region_file_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}
inline bool parse_unsigned(std::string_view s, unsigned& out) {
    if (s.empty() || s.size() > 9) return false;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    out = v;
    return true;
}
inline bool valid_env_name(std::string_view s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}
}  // namespace detail

/// Parses the text of a region file; `where` names it in errors. Secrets are not read here.
inline std::vector<region_entry> parse_region_file(std::string_view text, const std::string& where) {
    std::vector<region_entry> out;
    std::vector<unsigned> section_line;
    struct seen_fields {
        bool endpoint = false, deployment = false, secret_env = false, auth = false, priority = false, weight = false,
             api_version = false;
    };
    std::vector<seen_fields> seen;
    auto fail = [&](unsigned line, const std::string& what) -> void {
        throw region_file_error(where + ":" + std::to_string(line) + ": " + what);
    };
    unsigned line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t end = text.find('\n', pos);
        std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
        ++line_no;
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = detail::trim(line);
        if (line.empty()) continue;
        if (line.front() == '[') {
            if (line.back() != ']') fail(line_no, "a section header is `[region-name]`");
            const std::string_view name = detail::trim(line.substr(1, line.size() - 2));
            if (name.empty()) fail(line_no, "the region name between [ and ] is empty");
            for (const region_entry& r : out)
                if (r.name == name) fail(line_no, "region '" + std::string(name) + "' is defined twice");
            out.push_back({});
            out.back().name = std::string(name);
            section_line.push_back(line_no);
            seen.push_back({});
            continue;
        }
        const std::size_t eq = line.find('=');
        if (eq == std::string_view::npos) fail(line_no, "expected `field = value` or `[region-name]`");
        const std::string field(detail::trim(line.substr(0, eq)));
        const std::string_view value = detail::trim(line.substr(eq + 1));
        if (out.empty()) fail(line_no, "field '" + field + "' comes before any [region-name] section");
        if (value.empty()) fail(line_no, "field '" + field + "' has no value");
        region_entry& r = out.back();
        seen_fields& s = seen.back();
        auto once = [&](bool& flag) {
            if (flag) fail(line_no, "field '" + field + "' is given twice for region '" + r.name + "'");
            flag = true;
        };
        if (field == "endpoint") {
            once(s.endpoint);
            if (value.rfind("https://", 0) != 0 && value.rfind("http://", 0) != 0)
                fail(line_no, "field 'endpoint' must start with https:// (or http:// for a local server)");
            r.endpoint = std::string(value);
        } else if (field == "deployment") {
            once(s.deployment);
            if (value.find_first_of("/?# ") != std::string_view::npos)
                fail(line_no, "field 'deployment' must be a deployment name, without '/', '?', '#' or spaces");
            r.deployment = std::string(value);
        } else if (field == "auth") {
            once(s.auth);
            if (value == "api-key") r.auth = auth_kind::api_key;
            else if (value == "bearer") r.auth = auth_kind::bearer;
            else fail(line_no, "field 'auth' must be api-key or bearer");
        } else if (field == "secret_env") {
            once(s.secret_env);
            if (!detail::valid_env_name(value))
                fail(line_no, "field 'secret_env' must name an environment variable (letters, digits, _)");
            r.secret_env = std::string(value);
        } else if (field == "priority") {
            once(s.priority);
            if (!detail::parse_unsigned(value, r.priority)) fail(line_no, "field 'priority' must be a whole number >= 0");
        } else if (field == "weight") {
            once(s.weight);
            if (!detail::parse_unsigned(value, r.weight) || r.weight > 1000)
                fail(line_no, "field 'weight' must be a whole number in 0..1000");
        } else if (field == "api_version") {
            once(s.api_version);
            r.api_version = std::string(value);
        } else {
            fail(line_no, "unknown field '" + field +
                              "' (fields: endpoint, deployment, auth, secret_env, priority, weight, api_version)");
        }
    }
    if (out.empty()) throw region_file_error(where + ": no region: add a [region-name] section per region");
    if (out.size() > 64) throw region_file_error(where + ": at most 64 regions");
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::string missing = !seen[i].endpoint ? "endpoint" : !seen[i].deployment ? "deployment" : !seen[i].secret_env ? "secret_env" : "";
        if (!missing.empty())
            fail(section_line[i], "region '" + out[i].name + "' has no '" + missing + "' field");
    }
    bool any_weight = false;
    for (const region_entry& r : out) any_weight = any_weight || r.weight > 0;
    if (!any_weight) throw region_file_error(where + ": every region has weight 0: no region would get traffic");
    return out;
}

/// The whole text of a file the demo is given (a region file, a timeline).
inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw region_file_error(path + ": cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// Reads and parses a region file.
inline std::vector<region_entry> read_region_file(const std::string& path) { return parse_region_file(read_text(path), path); }

/// Fills each region's secret from its environment variable. Errors name the variable, never a value.
template <class Getenv>
void read_secrets(std::vector<region_entry>& regions, Getenv&& getenv) {
    for (region_entry& r : regions) {
        const char* v = getenv(r.secret_env.c_str());
        if (v == nullptr || *v == '\0')
            throw region_file_error("region '" + r.name + "': environment variable " + r.secret_env + " is not set (it holds the " +
                                    (r.auth == auth_kind::api_key ? "api-key" : "bearer token") + ")");
        const std::string_view s(v);
        if (s.find_first_of("\r\n") != std::string_view::npos)
            throw region_file_error("region '" + r.name + "': environment variable " + r.secret_env +
                                    " holds a line break; a header value cannot");
        r.secret = std::string(s);
    }
}

}  // namespace demo

#endif
