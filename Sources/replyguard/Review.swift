import ArgumentParser
import Foundation
import ReplyGuard
import ReplyGuardGate

struct Review: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "List, show, approve or reject replies held for human review.",
        discussion: """
        Approvals and rejections are recorded in the audit log given with --audit (the file `filter`, `wrap` or \
        `serve` write with their --audit), as the review page records them. \
        Exit 0 on success, 1 when the review does not exist or is no longer pending, 2 when the queue or the audit \
        log cannot be opened or written (nothing is then changed).
        """,
        subcommands: [List.self, Show.self, Approve.self, Reject.self, Export.self])

    struct QueueOption: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Review queue file (default: $REPLYGUARD_QUEUE or ~/.local/share/replyguard/review-queue.sqlite3).", valueName: "path"))
        var queue: String?

        /// The reviewer's desk on the queue (and on `audit`, where decisions are recorded), or exit 2.
        func open(audit: String? = nil) throws -> ReviewDesk {
            do { return try ReviewDesk.open(queuePath: queue ?? ReviewQueue.defaultPath, auditPath: audit) } catch {
                refused(error)
                throw ExitCode(2)
            }
        }
    }

    enum StatusFilter: String, ExpressibleByArgument, CaseIterable { case pending, approved, rejected, released, expired, withdrawn, all }

    static func preview(_ bytes: [UInt8], limit: Int = 40) -> String {
        var shown = Visible.scalars(String(decoding: bytes, as: UTF8.self))
        if shown.count > limit { shown = Array(shown.prefix(limit - 1)) + ["…"] }
        return String(String.UnicodeScalarView(shown))
    }

    static func decision(_ record: String) -> Decision? {
        try? JSONDecoder().decode(Decision.self, from: Data(record.utf8))
    }

    static func rules(of record: String) -> String {
        guard let decision = decision(record) else { return "-" }
        let all = decision.hits.map(\.rule) + (decision.errors.isEmpty ? [] : ["error"])
        return all.isEmpty ? "-" : all.joined(separator: ",")
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List held replies (pending by default).")
        @OptionGroup var queue: QueueOption
        @Option(name: .long, help: "Which replies to list.") var status: StatusFilter = .pending
        @Flag(name: .long, help: "One JSON object per reply.") var json = false

        func run() throws {
            let items = try queue.open().list(status == .all ? nil : ReviewStatus(rawValue: status.rawValue))
            let out = Terminal.standardOutput
            for item in items {
                if json {
                    let text = JSONWriter.string(String(decoding: item.text, as: UTF8.self))
                    out.write("{\"review\":\(item.id),\"status\":\"\(item.status.rawValue)\",\"created\":\(JSONWriter.string(item.createdAt)),"
                        + "\"id\":\(item.messageID ?? "null"),\"text\":\(text),\"decision\":\(item.decision)}\n")
                } else {
                    out.write("\(item.id)\t\(item.status.rawValue)\t\(item.createdAt.prefix(19))\t\(Review.rules(of: item.decision))\t\(Review.preview(item.text))\n")
                }
            }
            if !json && items.isEmpty { Terminal.standardError.write("no \(status == .all ? "" : status.rawValue + " ")replies in \(queue.queue ?? ReviewQueue.defaultPath)\n") }
            out.flush()
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one held reply in full, with why it was held.")
        @OptionGroup var queue: QueueOption
        @Argument(help: "Review id (from `review list`).") var id: Int64

        func run() throws {
            guard let item = try queue.open().item(id) else {
                Terminal.standardError.write("Error: no review \(id)\n")
                throw ExitCode(1)
            }
            let out = Terminal.standardOutput
            out.write("review:   \(item.id) (\(item.status.rawValue))\ncreated:  \(item.createdAt)\n")
            if let expires = item.expiresAt { out.write("expires:  \(expires)\n") }
            if let id = item.messageID { out.write("id:       \(id)\n") }
            out.write("text:     \(String(String.UnicodeScalarView(Visible.scalars(String(decoding: item.text, as: UTF8.self)))))\n")
            out.write("rules:    \(Review.rules(of: item.decision))\n")
            if let decided = item.decidedAt { out.write("decided:  \(decided)\(item.decidedBy.map { " by \($0)" } ?? "")\(item.note.map { " — \($0)" } ?? "")\n") }
            if let released = item.releasedAt { out.write("released: \(released) by \(item.releasedBy ?? "?")\n") }
            out.write("decision: \(item.decision)\n")
            out.flush()
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "approve", abstract: "Approve a pending reply; a running filter publishes it.")
        @OptionGroup var queue: QueueOption
        @Argument(help: "Review id.") var id: Int64
        @Option(name: .long, help: "Why (kept with the review).") var note: String?
        @Option(name: .long, help: "Who decides (kept with the review; default: $USER).") var reviewer: String?
        @OptionGroup var audit: AuditOption

        func run() throws { try Review.decide(queue: queue, audit: audit, id: id, approve: true, note: note, reviewer: reviewer) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "reject", abstract: "Reject a pending reply; it is never published.")
        @OptionGroup var queue: QueueOption
        @Argument(help: "Review id.") var id: Int64
        @Option(name: .long, help: "Why (kept with the review).") var note: String?
        @Option(name: .long, help: "Who decides (kept with the review; default: $USER).") var reviewer: String?
        @OptionGroup var audit: AuditOption

        func run() throws { try Review.decide(queue: queue, audit: audit, id: id, approve: false, note: note, reviewer: reviewer) }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write decided reviews as labelled records (corpus format) for `replyguard learn`.",
            discussion: """
            Approved (and released) replies become `{"expect":"allow","category":"clean"}`; rejected ones             positives of the category that held them (the highest-ranked hit's category; --category for             replies held without a hit, e.g. by --hold-all, which are skipped otherwise) expecting the verdict             that held them. Pending and expired replies are not labels and are skipped. Ids are             `review-<queue id>`. One record per line on standard output.
            """)
        @OptionGroup var queue: QueueOption
        @Option(name: .long, help: "Category for rejected replies whose decision names none.") var category: String?

        func run() throws {
            let items = try queue.open().list(nil)
            let out = Terminal.standardOutput
            var written = 0, skipped = 0
            for item in items {
                let text = JSONWriter.string(String(decoding: item.text, as: UTF8.self))
                let when = item.decidedAt ?? item.createdAt
                let note = item.note.map { ",\"note\":" + JSONWriter.string($0) } ?? ""
                switch item.status {
                case .approved, .released:
                    out.write("{\"id\":\"review-\(item.id)\",\"text\":\(text),\"expect\":\"allow\",\"category\":\"clean\",\"source\":\(JSONWriter.string("review \(item.id) approved \(when)"))\(note)}\n")
                    written += 1
                case .rejected:
                    let (held, verdict) = Review.heldCategory(of: item.decision)
                    guard let category = held ?? category else { skipped += 1; continue }
                    let expect = verdict == "block" ? "block" : "escalate"
                    out.write("{\"id\":\"review-\(item.id)\",\"text\":\(text),\"expect\":\"\(expect)\",\"category\":\(JSONWriter.string(category)),"
                        + "\"source\":\(JSONWriter.string("review \(item.id) rejected \(when)"))\(note)}\n")
                    written += 1
                case .pending, .expired, .withdrawn:
                    continue
                }
            }
            out.flush()
            Terminal.standardError.write("exported \(written) decided review(s)\(skipped > 0 ? "; \(skipped) rejected without a category skipped (give --category)" : "")\n")
        }
    }

    /// The category of the hit that held a reply (highest action first; a score-only hit after those)
    /// and the decision's verdict.
    static func heldCategory(of record: String) -> (String?, String?) {
        guard let decision = decision(record) else { return (nil, nil) }
        return (ReplyGate.heldCategory(of: decision), decision.verdict.rawValue)
    }

    struct AuditOption: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Record the decision in this audit log (JSON Lines; the file the filter or server writes with --audit).", valueName: "file"))
        var audit: String?
    }

    /// Approves or rejects through the ``ReviewDesk``: stored in the queue and recorded in the audit
    /// log together (a record that cannot be written leaves the reply pending, exit 2).
    static func decide(queue: QueueOption, audit: AuditOption, id: Int64, approve: Bool, note: String?, reviewer: String?) throws {
        let desk = try queue.open(audit: audit.audit)
        let environment = ProcessInfo.processInfo.environment
        let name = reviewer ?? environment["USER"] ?? environment["LOGNAME"] ?? "unknown"
        let outcome: DeskDecision
        do { outcome = try desk.decide(id, approve: approve, note: note, by: name) } catch let error as AuditWriteError {
            Terminal.standardError.write(Terminal.errorStyle.paint("error: ") + "\(error); nothing was changed: review \(id) is still pending\n")
            throw ExitCode(2)
        }
        if let refusal = outcome.refusal {
            Terminal.standardError.write("Error: review \(id) \(refusal)\n")
            throw ExitCode(1)
        }
        Terminal.standardOutput.write("review \(id) \(approve ? "approved" : "rejected")\n")
        Terminal.standardOutput.flush()
        if desk.auditPath == nil {
            Terminal.standardError.write("note: not recorded in an audit log (give --audit FILE, the log the filter or server writes)\n")
        }
    }
}
