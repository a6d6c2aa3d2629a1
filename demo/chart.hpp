// failover-demo: the timeline chart, an SVG file with no dependency. Calls answered per second
// by each region over time, the windows where a region was faulty shaded behind the lines, and
// the breaker's openings marked on the time axis.
#ifndef FAILOVER_DEMO_CHART_HPP_INCLUDED
#define FAILOVER_DEMO_CHART_HPP_INCLUDED

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace demo {

struct chart_series {
    std::string name;
    std::vector<double> per_second;  // one value per bucket
};

struct chart_window {  // a region faulty from `from` to `to` seconds
    std::size_t region = 0;
    double from = 0, to = 0;
    std::string label;
};

struct chart_mark {  // a moment worth a tick on the time axis (a breaker opening)
    std::size_t region = 0;
    double at = 0;
    std::string label;
};

struct chart_input {
    std::string title;
    double bucket_seconds = 0.5;
    double duration = 0;
    std::vector<chart_series> series;
    std::vector<chart_window> windows;
    std::vector<chart_mark> marks;
    std::vector<double> failed_per_second;  // calls that failed, per bucket (drawn in red)
};

namespace detail {
inline const char* colour(std::size_t i) {
    static const char* palette[] = {"#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};
    return palette[i % (sizeof palette / sizeof *palette)];
}
inline std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else if (c == '"') out += "&quot;";
        else out += c;
    }
    return out;
}
inline std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}
}  // namespace detail

/// The chart as SVG text.
inline std::string render_chart(const chart_input& in) {
    const double w = 960, h = 420, left = 60, right = 170, top = 50, bottom = 60;
    const double pw = w - left - right, ph = h - top - bottom;
    double ymax = 1;
    for (const chart_series& s : in.series)
        for (double v : s.per_second) ymax = std::max(ymax, v);
    for (double v : in.failed_per_second) ymax = std::max(ymax, v);
    // a round top for the axis
    double step = 1;
    for (double c : {1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0})
        if (ymax / c <= 6) {
            step = c;
            break;
        }
    ymax = step * static_cast<double>(static_cast<long>(ymax / step) + 1);
    const double duration = std::max(in.duration, in.bucket_seconds);
    auto x = [&](double t) { return left + pw * std::clamp(t / duration, 0.0, 1.0); };
    auto y = [&](double v) { return top + ph * (1 - v / ymax); };

    std::string o;
    o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + detail::num(w) + "\" height=\"" + detail::num(h) +
         "\" viewBox=\"0 0 " + detail::num(w) + " " + detail::num(h) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    o += "<text x=\"" + detail::num(left) + "\" y=\"24\" font-size=\"16\" font-weight=\"bold\">" + detail::escape(in.title) + "</text>\n";
    // fault windows, one band per region
    const double band = in.series.empty() ? ph : ph / static_cast<double>(in.series.size());
    for (const chart_window& win : in.windows) {
        const double x0 = x(win.from), x1 = x(win.to);
        o += "<rect x=\"" + detail::num(x0) + "\" y=\"" + detail::num(top) + "\" width=\"" + detail::num(std::max(1.0, x1 - x0)) +
             "\" height=\"" + detail::num(ph) + "\" fill=\"" + detail::colour(win.region) + "\" fill-opacity=\"0.10\"/>\n";
        o += "<line x1=\"" + detail::num(x0) + "\" x2=\"" + detail::num(x0) + "\" y1=\"" + detail::num(top) + "\" y2=\"" +
             detail::num(top + ph) + "\" stroke=\"" + detail::colour(win.region) + "\" stroke-opacity=\"0.5\" stroke-dasharray=\"2 3\"/>\n";
        o += "<text x=\"" + detail::num(x0 + 3) + "\" y=\"" + detail::num(top + 14 + band * static_cast<double>(win.region)) +
             "\" fill=\"" + detail::colour(win.region) + "\" font-size=\"11\">" + detail::escape(win.label) + "</text>\n";
    }
    // axes and grid
    for (double v = 0; v <= ymax + 1e-9; v += step) {
        o += "<line x1=\"" + detail::num(left) + "\" x2=\"" + detail::num(left + pw) + "\" y1=\"" + detail::num(y(v)) + "\" y2=\"" +
             detail::num(y(v)) + "\" stroke=\"#ddd\"/>\n";
        o += "<text x=\"" + detail::num(left - 6) + "\" y=\"" + detail::num(y(v) + 4) + "\" text-anchor=\"end\">" +
             detail::num(v).substr(0, detail::num(v).size() - 2) + "</text>\n";
    }
    const double tstep = duration <= 15 ? 1 : duration <= 40 ? 5 : duration <= 120 ? 10 : 60;
    for (double t = 0; t <= duration + 1e-9; t += tstep) {
        o += "<line x1=\"" + detail::num(x(t)) + "\" x2=\"" + detail::num(x(t)) + "\" y1=\"" + detail::num(top + ph) + "\" y2=\"" +
             detail::num(top + ph + 4) + "\" stroke=\"#333\"/>\n";
        o += "<text x=\"" + detail::num(x(t)) + "\" y=\"" + detail::num(top + ph + 18) + "\" text-anchor=\"middle\">" +
             detail::num(t).substr(0, detail::num(t).size() - 2) + "</text>\n";
    }
    o += "<rect x=\"" + detail::num(left) + "\" y=\"" + detail::num(top) + "\" width=\"" + detail::num(pw) + "\" height=\"" +
         detail::num(ph) + "\" fill=\"none\" stroke=\"#333\"/>\n";
    o += "<text x=\"" + detail::num(left + pw / 2) + "\" y=\"" + detail::num(h - 18) + "\" text-anchor=\"middle\">seconds</text>\n";
    o += "<text transform=\"translate(16," + detail::num(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">calls answered per second</text>\n";
    // the lines
    auto polyline = [&](const std::vector<double>& values, const char* stroke, const char* dash) {
        std::string pts;
        for (std::size_t i = 0; i < values.size(); ++i) {
            const double t = (static_cast<double>(i) + 0.5) * in.bucket_seconds;
            if (t > duration) break;
            pts += detail::num(x(t)) + "," + detail::num(y(values[i])) + " ";
        }
        o += std::string("<polyline fill=\"none\" stroke=\"") + stroke + "\" stroke-width=\"2\"" +
             (dash[0] != '\0' ? std::string(" stroke-dasharray=\"") + dash + "\"" : std::string()) + " points=\"" + pts + "\"/>\n";
    };
    for (std::size_t i = 0; i < in.series.size(); ++i) polyline(in.series[i].per_second, detail::colour(i), "");
    if (!in.failed_per_second.empty()) polyline(in.failed_per_second, "#d62728", "4 3");
    // breaker openings
    for (const chart_mark& m : in.marks) {
        o += "<path d=\"M" + detail::num(x(m.at)) + "," + detail::num(top + ph) + " l-5,9 l10,0 z\" fill=\"" +
             detail::colour(m.region) + "\"><title>" + detail::escape(m.label) + "</title></path>\n";
    }
    // legend
    double ly = top + 10;
    const double lx = left + pw + 16;
    for (std::size_t i = 0; i < in.series.size(); ++i, ly += 20) {
        o += "<line x1=\"" + detail::num(lx) + "\" x2=\"" + detail::num(lx + 22) + "\" y1=\"" + detail::num(ly) + "\" y2=\"" +
             detail::num(ly) + "\" stroke=\"" + detail::colour(i) + "\" stroke-width=\"3\"/>\n";
        o += "<text x=\"" + detail::num(lx + 28) + "\" y=\"" + detail::num(ly + 4) + "\">" + detail::escape(in.series[i].name) + "</text>\n";
    }
    if (!in.failed_per_second.empty()) {
        o += "<line x1=\"" + detail::num(lx) + "\" x2=\"" + detail::num(lx + 22) + "\" y1=\"" + detail::num(ly) + "\" y2=\"" +
             detail::num(ly) + "\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\n";
        o += "<text x=\"" + detail::num(lx + 28) + "\" y=\"" + detail::num(ly + 4) + "\">failed calls</text>\n";
        ly += 20;
    }
    o += "<rect x=\"" + detail::num(lx) + "\" y=\"" + detail::num(ly - 6) + "\" width=\"22\" height=\"12\" fill=\"#888\" fill-opacity=\"0.2\"/>\n";
    o += "<text x=\"" + detail::num(lx + 28) + "\" y=\"" + detail::num(ly + 4) + "\">region faulty</text>\n";
    ly += 20;
    o += "<path d=\"M" + detail::num(lx + 11) + "," + detail::num(ly - 6) + " l-5,9 l10,0 z\" fill=\"#888\"/>\n";
    o += "<text x=\"" + detail::num(lx + 28) + "\" y=\"" + detail::num(ly + 4) + "\">breaker opened</text>\n";
    o += "</svg>\n";
    return o;
}

}  // namespace demo

#endif
