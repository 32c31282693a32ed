import Foundation
import ReplyGuard

/// A one-line progress display on standard error (terminal only): bytes, messages/s, ETA.
struct ProgressBar {
    let total: Int?
    let started = Date()
    var lastDraw = Date.distantPast

    mutating func draw(bytes: Int, messages: Int, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(messages) / elapsed
        var text = String(format: "%.1f MB", Double(bytes) / 1_000_000)
        if let total, total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            let filled = Int(fraction * 24)
            let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
            text = "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: 24 - filled) + "] " + text
                + String(format: " / %.1f MB  %3.0f%%  ETA %d:%02d", Double(total) / 1_000_000, fraction * 100, Int(eta) / 60, Int(eta) % 60)
        }
        text += String(format: "  %.0f msg/s", rate)
        Terminal.standardError.write("\r\u{1B}[K" + text)
    }

    func clear() { Terminal.standardError.write("\r\u{1B}[K") }
}
