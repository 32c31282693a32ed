import ArgumentParser
import Foundation
import ReplyGuard

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show why a text gets its verdict: normalized text, hits with spans, scores.",
        discussion: "Reads the text from the arguments, or from standard input when none are given. Exit 0 when the verdict is below --fail-on, 1 when at or above it, 2 on error.")

    @OptionGroup var ruleOptions: RuleOptions

    @Flag(name: .long, help: "Print the decision record as JSON instead.")
    var json = false

    @Option(name: .long, help: "Colour: auto (on a terminal), always, never.")
    var color: ColorChoice = .auto

    @Option(name: .customLong("fail-on"), help: "Lowest verdict that makes the exit status 1.")
    var failOn: Verdict = .escalate

    @Argument(help: "The text to explain (joined with spaces). Omit to read standard input.")
    var text: [String] = []

    func run() throws {
        let engine = try ruleOptions.engine()
        let ruleSet = engine.ruleSet
        var input: [UInt8]
        if text.isEmpty {
            input = Array(FileHandle.standardInput.readDataToEndOfFile())
            if input.last == 0x0A { input.removeLast() }
            if input.last == 0x0D { input.removeLast() }
        } else {
            input = Array(text.joined(separator: " ").utf8)
        }
        let scanner = engine.makeScanner()
        // The process ends when `explain` returns: the engine and its scanner are left for the exit to
        // reclaim, not released object by object (40 M instructions with the shipped set, issue 19).
        _ = Unmanaged.passRetained(engine)
        _ = Unmanaged.passRetained(scanner)
        let decision = input.withUnsafeBufferPointer { scanner.decide($0, id: .string("explain")) }
        let out = Terminal.standardOutput
        if json {
            out.write(decision.jsonLine() + "\n")
        } else {
            // Normalized again here: the scanner's fast path may allow a message without keeping its normalized form.
            var normalized = NormalizedText()
            input.withUnsafeBufferPointer { Normalizer(maxFiller: ruleSet.policy.maxFiller).normalize($0, into: &normalized) }
            render(decision, original: String(decoding: input, as: UTF8.self), normalized: normalized.keptString,
                   policy: ruleSet.policy, to: out)
            renderModels(engine.models, kept: normalized.kept, to: out)
            out.write(Style(enabled: color.enabled(fd: 1), code: "2").paint("policy:     \(decision.policy) (rules: \(ruleOptions.location.label))") + "\n")
        }
        out.flush()
        if decision.verdict >= failOn { throw ExitCode(1) }
    }

    /// Each enabled model's probability and thresholds, and the n-grams that pushed it most (up and down).
    private func renderModels(_ models: [CompiledModel], kept: [UInt32], to out: Terminal) {
        for compiled in models {
            let p = kept.isEmpty ? 0 : compiled.model.probability(of: kept)
            let limits = ["escalate ≥ \(NGramModel.format(compiled.escalate, 6))"] + (compiled.block.map { ["block ≥ \(NGramModel.format($0, 6))"] } ?? [])
            out.write("model:      \(compiled.ruleID) [\(compiled.category)] score \(NGramModel.format(p, 4)) (\(limits.joined(separator: ", ")))\(kept.isEmpty ? " — nothing to score" : "")\n")
            let features = compiled.model.features(kept)
            let up = features.filter { $0.contribution > 0 }.prefix(8)
            let down = features.filter { $0.contribution < 0 }.suffix(5).reversed()
            func show(_ f: NGramModel.Feature) -> String {
                "\(f.gram)\(f.count > 1 ? "×\(f.count)" : "") \(f.weight >= 0 ? "+" : "")\(NGramModel.format(f.weight, 4))"
            }
            if !up.isEmpty { out.write("  features for:     " + up.map(show).joined(separator: "  ") + "\n") }
            if !down.isEmpty { out.write("  features against: " + down.map(show).joined(separator: "  ") + "\n") }
            out.write("  (weight per n-gram; each counts weight / √\(max(1, kept.count + max(0, kept.count - 1) + max(0, kept.count - 2))) n-grams, logit = bias \(NGramModel.format(compiled.model.bias, 4)) + sum)\n")
        }
    }

    private func render(_ decision: Decision, original: String, normalized: String, policy: Policy, to out: Terminal) {
        let colored = color.enabled(fd: 1)
        let bold = Style(enabled: colored, code: "1"), dim = Style(enabled: colored, code: "2")
        let verdictStyle = Style(enabled: colored, code: decision.verdict.colorCode)
        out.write("verdict:    " + verdictStyle.paint(decision.verdict.rawValue.uppercased()) + "\n")
        let shown = Visible.scalars(original)
        out.write("text:       " + String(String.UnicodeScalarView(shown)) + "\n")
        out.write("normalized: " + normalized + "\n")
        if decision.hits.isEmpty {
            out.write("hits:       none\n")
        } else {
            out.write("hits:\n")
            for hit in decision.hits {
                let effect = [hit.action?.rawValue, hit.modelScore.map { "score \(NGramModel.format($0, 4))" } ?? hit.score.map { "score \($0)" }].compactMap { $0 }.joined(separator: ", ")
                out.write("  " + bold.paint(hit.rule) + " [\(hit.category), \(effect)]  "
                          + dim.paint("chars \(hit.start)..<\(hit.end), bytes \(hit.byteStart)..<\(hit.byteEnd)") + "\n")
                let before = DisplayWidth.of(shown[0..<hit.start]), width = max(1, DisplayWidth.of(shown[hit.start..<hit.end]))
                out.write("    " + String(String.UnicodeScalarView(shown)) + "\n")
                out.write("    " + String(repeating: " ", count: before) + verdictStyle.paint(String(repeating: "^", count: width)) + "\n")
            }
        }
        for item in decision.suppressed {
            out.write("suppressed: \(item.rule) (exception: \(item.reason))\n")
        }
        if !decision.scores.isEmpty {
            let parts = decision.scores.keys.sorted().map { category -> String in
                let t = policy.thresholds[category]
                let limits = [t?.escalate.map { "escalate ≥ \($0)" }, t?.block.map { "block ≥ \($0)" }].compactMap { $0 }
                return "\(category) \(decision.scores[category]!)" + (limits.isEmpty ? " (no threshold)" : " (\(limits.joined(separator: ", ")))")
            }
            out.write("scores:     " + parts.joined(separator: "; ") + "\n")
        }
        for error in decision.errors {
            out.write(Style(enabled: colored, code: "1;31").paint("error: ") + (error.rule.map { "\($0): " } ?? "") + error.message + "\n")
        }
    }
}
