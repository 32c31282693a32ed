import Foundation
import ReplyGuard

/// Counters and latency histograms for `GET /metrics` (Prometheus text exposition format 0.0.4).
/// One lock around plain dictionaries: an update is a few hundred nanoseconds, far below a decision.
final class Metrics: @unchecked Sendable { // every stored property is read and written under `lock`
    static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private struct Histogram {
        var counts = [Int](repeating: 0, count: Metrics.latencyBuckets.count)
        var count = 0
        var sum = 0.0
    }

    private let lock = NSLock()
    private var decisions: [String: Int] = [:]          // verdict
    private var categories: [String: Int] = [:]         // category that hit or scored in a decision
    private var outcomes: [String: Int] = [:]           // filter outcome
    private var requests: [String: Int] = [:]           // "endpoint\u{0}code"
    private var latency: [String: Histogram] = [:]      // endpoint
    private var reloads: [String: Int] = [:]            // ok / refused

    func record(_ decision: Decision) {
        var seen = Set<String>()
        for hit in decision.hits { seen.insert(hit.category) }
        for (category, score) in decision.scores where score > 0 { seen.insert(category) }
        lock.lock()
        decisions[decision.verdict.rawValue, default: 0] += 1
        for category in seen { categories[category, default: 0] += 1 }
        lock.unlock()
    }

    func record(outcome: String) {
        lock.lock()
        outcomes[outcome, default: 0] += 1
        lock.unlock()
    }

    func record(endpoint: String, status: Int, seconds: Double) {
        lock.lock()
        requests[endpoint + "\u{0}" + String(status), default: 0] += 1
        var histogram = latency[endpoint] ?? Histogram()
        if let bucket = Metrics.latencyBuckets.firstIndex(where: { seconds <= $0 }) { histogram.counts[bucket] += 1 }
        histogram.count += 1
        histogram.sum += seconds
        latency[endpoint] = histogram
        lock.unlock()
    }

    func record(reload ok: Bool) {
        lock.lock()
        reloads[ok ? "ok" : "refused", default: 0] += 1
        lock.unlock()
    }

    /// The exposition text; `queueDepth` is nil when the queue could not be read (then it says so with NaN).
    func render(queueDepth: [String: Int]?, rulesLoaded: Date, rules: Int) -> String {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func labels(_ pairs: [(String, String)]) -> String {
            pairs.isEmpty ? "" : "{" + pairs.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        family("replyguard_decisions_total", "counter", "Messages decided, by verdict.")
        for verdict in Verdict.allCases.map(\.rawValue) { out += "replyguard_decisions_total\(labels([("verdict", verdict)])) \(decisions[verdict] ?? 0)\n" }
        family("replyguard_category_decisions_total", "counter", "Messages decided with a hit or score in the category.")
        for (category, n) in categories.sorted(by: { $0.key < $1.key }) { out += "replyguard_category_decisions_total\(labels([("category", category)])) \(n)\n" }
        family("replyguard_filter_outcomes_total", "counter", "What /v1/filter told clients to publish.")
        for outcome in ["publish", "masked", "fallback", "hold"] { out += "replyguard_filter_outcomes_total\(labels([("outcome", outcome)])) \(outcomes[outcome] ?? 0)\n" }
        family("replyguard_http_requests_total", "counter", "HTTP requests, by endpoint and status code.")
        for (key, n) in requests.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            out += "replyguard_http_requests_total\(labels([("endpoint", parts[0]), ("code", parts[1])])) \(n)\n"
        }
        family("replyguard_request_duration_seconds", "histogram", "Time from a whole request read to its response written out, by endpoint.")
        for (endpoint, histogram) in latency.sorted(by: { $0.key < $1.key }) {
            var cumulative = 0
            for (i, bound) in Metrics.latencyBuckets.enumerated() {
                cumulative += histogram.counts[i]
                out += "replyguard_request_duration_seconds_bucket\(labels([("endpoint", endpoint), ("le", String(bound))])) \(cumulative)\n"
            }
            out += "replyguard_request_duration_seconds_bucket\(labels([("endpoint", endpoint), ("le", "+Inf")])) \(histogram.count)\n"
            out += "replyguard_request_duration_seconds_sum\(labels([("endpoint", endpoint)])) \(histogram.sum)\n"
            out += "replyguard_request_duration_seconds_count\(labels([("endpoint", endpoint)])) \(histogram.count)\n"
        }
        family("replyguard_review_queue_depth", "gauge", "Held replies in the review queue, by status (pending: waiting for a reviewer).")
        for status in ["pending", "approved", "rejected", "released", "expired", "withdrawn"] {
            let value = queueDepth.map { String($0[status] ?? 0) } ?? "NaN"
            out += "replyguard_review_queue_depth\(labels([("status", status)])) \(value)\n"
        }
        family("replyguard_rule_reloads_total", "counter", "Rule reloads (SIGHUP or POST /v1/reload), by result.")
        for result in ["ok", "refused"] { out += "replyguard_rule_reloads_total\(labels([("result", result)])) \(reloads[result] ?? 0)\n" }
        family("replyguard_rules_loaded_timestamp_seconds", "gauge", "When the running rules were loaded (Unix time).")
        out += "replyguard_rules_loaded_timestamp_seconds \(rulesLoaded.timeIntervalSince1970)\n"
        family("replyguard_rules", "gauge", "Rules in the running rule set.")
        out += "replyguard_rules \(rules)\n"
        return out
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
