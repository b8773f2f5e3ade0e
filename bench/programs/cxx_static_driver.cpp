// cxx_static: a C++17 program linked against GCC's static libstdc++.a (and
// libgcc_eh.a), so the C++ runtime itself (iostreams, locale, containers'
// out-of-line parts, the exception runtime) is linked from archive members.
// It uses iostreams with formatting, std::map / std::unordered_map / std::set /
// std::vector / std::deque, std::string and string streams, algorithms,
// virtual dispatch through std::unique_ptr, std::function, std::shared_ptr,
// std::optional / std::variant, static constructors and destructors, and
// exceptions thrown by the program and by libstdc++ itself (vector::at,
// std::stoi, map::at, bad_variant_access), caught across frames.
// Output is deterministic; exit status is the word count mod 100.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

struct Registry {
    std::vector<std::string> events;
    Registry() { events.push_back("registry constructed"); }
    ~Registry() { std::cout << "static destructor: " << events.size() << " events\n"; }
};
Registry registry;

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual std::string name() const = 0;
};
struct Rect : Shape {
    double w, h;
    Rect(double w_, double h_) : w(w_), h(h_) {}
    double area() const override { return w * h; }
    std::string name() const override { return "rect"; }
};
struct Circle : Shape {
    double r;
    explicit Circle(double r_) : r(r_) {}
    double area() const override { return 3.14159265358979 * r * r; }
    std::string name() const override { return "circle"; }
};

class ParseError : public std::runtime_error {
public:
    ParseError(const std::string &what, int line) : std::runtime_error(what), line_(line) {}
    int line() const { return line_; }

private:
    int line_;
};

const char *const TEXT =
    "the quick brown fox jumps over the lazy dog\n"
    "a linker links objects and a loader loads them\n"
    "the jit linker links objects in memory and runs them\n"
    "static archives hold members and the linker takes the members it needs\n"
    "exceptions unwind through frames of the program and of the runtime\n";

int parse_line_number(const std::string &s, int line)
{
    try {
        return std::stoi(s);
    } catch (const std::invalid_argument &) {
        throw ParseError("not a number: '" + s + "'", line);
    }
}

std::uint64_t fnv1a(const std::string &s)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

} // namespace

int main()
{
    registry.events.push_back("main entered");

    // -- words: map, unordered_map, set, sorting
    std::istringstream in(TEXT);
    std::map<std::string, int> counts;
    std::unordered_map<std::string, std::size_t> first_seen;
    std::vector<std::string> words;
    std::string w;
    while (in >> w) {
        counts[w]++;
        first_seen.emplace(w, words.size());
        words.push_back(w);
    }
    std::vector<std::pair<std::string, int>> by_count(counts.begin(), counts.end());
    std::stable_sort(by_count.begin(), by_count.end(),
                     [](const auto &a, const auto &b) { return a.second > b.second; });
    std::cout << "words: " << words.size() << ", distinct: " << counts.size() << "\n";
    for (std::size_t i = 0; i < 5 && i < by_count.size(); i++)
        std::cout << "  " << std::setw(8) << std::left << by_count[i].first << std::right << std::setw(3)
                  << by_count[i].second << "  first at " << first_seen.at(by_count[i].first) << "\n";
    std::set<std::size_t> lengths;
    for (const auto &x : words)
        lengths.insert(x.size());
    std::cout << "word lengths:";
    for (auto l : lengths)
        std::cout << ' ' << l;
    std::cout << "\n";

    // -- numbers: deque, accumulate, iomanip
    std::deque<double> dq;
    for (int i = 1; i <= 20; i++) {
        if (i % 2)
            dq.push_back(1.0 / i);
        else
            dq.push_front(std::sqrt(static_cast<double>(i)));
    }
    double sum = std::accumulate(dq.begin(), dq.end(), 0.0);
    std::cout << std::fixed << std::setprecision(6) << "deque sum " << sum << ", front " << dq.front()
              << ", back " << dq.back() << "\n";
    std::cout << std::scientific << std::setprecision(3) << "scientific " << sum * 12345.678 << "\n"
              << std::defaultfloat;
    std::cout << std::hex << "hex " << 48879 << std::dec << ", fnv1a(text) " << std::hex << fnv1a(TEXT)
              << std::dec << "\n";

    // -- polymorphism, smart pointers, std::function
    std::vector<std::unique_ptr<Shape>> shapes;
    for (int i = 1; i <= 6; i++) {
        if (i % 3)
            shapes.push_back(std::make_unique<Rect>(i, i + 0.5));
        else
            shapes.push_back(std::make_unique<Circle>(i * 0.75));
    }
    std::sort(shapes.begin(), shapes.end(), [](const auto &a, const auto &b) { return a->area() < b->area(); });
    std::cout << std::setprecision(2) << std::fixed;
    for (const auto &s : shapes)
        std::cout << "  " << s->name() << " " << s->area() << "\n";
    std::cout << std::defaultfloat;
    auto shared = std::make_shared<std::vector<int>>(10);
    std::iota(shared->begin(), shared->end(), 1);
    std::vector<std::function<int(int)>> fns = {
        [](int x) { return x * x; },
        [shared](int x) { return x + static_cast<int>(shared->size()); },
        [&counts](int x) { return x + counts["the"]; },
    };
    int acc = 0;
    for (std::size_t i = 0; i < fns.size(); i++)
        acc += fns[i](static_cast<int>(i) + 3);
    std::cout << "functions: " << acc << ", shared use_count " << shared.use_count() << "\n";

    // -- optional, variant
    std::vector<std::variant<int, std::string, double>> vs = {42, std::string("forty-two"), 4.2};
    for (const auto &v : vs) {
        std::visit([](const auto &x) { std::cout << "  variant holds " << x << "\n"; }, v);
    }
    std::optional<int> maybe;
    std::cout << "optional: " << maybe.value_or(-1) << "\n";

    // -- exceptions: from the program, and from libstdc++
    int caught = 0;
    const std::vector<std::string> fields = {"12", "7", "x9", "30"};
    for (std::size_t i = 0; i < fields.size(); i++) {
        try {
            std::cout << "  field " << i << " = " << parse_line_number(fields[i], static_cast<int>(i) + 1) << "\n";
        } catch (const ParseError &e) {
            caught++;
            std::cout << "  ParseError at line " << e.line() << ": " << e.what() << "\n";
        }
    }
    try {
        std::vector<int> v(3);
        v.at(7) = 1;
    } catch (const std::out_of_range &) {
        caught++;
        std::cout << "  out_of_range from vector::at\n";
    }
    try {
        (void)counts.at("no such word");
    } catch (const std::out_of_range &) {
        caught++;
        std::cout << "  out_of_range from map::at\n";
    }
    try {
        (void)std::get<double>(vs[0]);
    } catch (const std::bad_variant_access &e) {
        caught++;
        std::cout << "  bad_variant_access\n";
    }
    try {
        try {
            throw std::logic_error("inner");
        } catch (const std::exception &e) {
            throw std::runtime_error(std::string("rethrown after ") + e.what());
        }
    } catch (const std::runtime_error &e) {
        caught++;
        std::cout << "  " << e.what() << "\n";
    }
    std::cout << "exceptions caught: " << caught << "\n";
    registry.events.push_back("main returns");
    return static_cast<int>(words.size() % 100);
}
