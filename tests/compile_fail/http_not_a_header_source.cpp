// expect: header_source
// Headers are a range of name/value pairs or a lookup callable; a bare string is neither.
#include <failover/http.hpp>

#include <string>

int main() {
    return failover::http::classify(503, std::string("retry-after: 5")).ok() ? 0 : 1;
}
