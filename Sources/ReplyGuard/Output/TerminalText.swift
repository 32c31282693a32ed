import Foundation

/// ANSI styling that is a no-op when colour is off.
public struct Style: Sendable {
    public var enabled: Bool
    public var code: String
    public init(enabled: Bool, code: String) {
        self.enabled = enabled
        self.code = code
    }

    public func paint(_ text: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
}

extension Verdict {
    /// The ANSI colour a verdict is shown in.
    public var colorCode: String { self == .block ? "1;31" : self == .escalate ? "1;33" : self == .mask ? "1;36" : "1;32" }
}

/// Renders text on one terminal line, one symbol per scalar (so spans still line up): controls and
/// line breaks as control pictures (␤ ␉ ␀), zero-width and other format characters as ◌.
public enum Visible {
    public static func scalars(_ text: String) -> [Unicode.Scalar] {
        text.unicodeScalars.map { s in
            if s.value < 0x20 { return Unicode.Scalar(0x2400 + s.value)! }
            if s.value == 0x7F { return "\u{2421}" }
            if s.properties.generalCategory == .format { return "\u{25CC}" }
            return s
        }
    }
}
