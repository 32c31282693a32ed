import Foundation
import ReplyGuard

/// What the stream filter did with a reply (the `action` of an audit record).
public enum FilterAction: String, Sendable, Codable {
    /// Allowed and published as written.
    case published
    /// Published with the spans of `mask` rules starred out.
    case masked
    /// Blocked; the policy's fallback reply was published instead.
    case fallback
    /// Escalated: stored in the review queue, the holding reply published.
    case held
    /// Approved by a reviewer and published by this filter (or handed to the HTTP client that held it;
    /// `reason` `repeated` when handed out again to a client that asked again).
    case released
    /// Not reviewed in time; never published.
    case expired
    /// A partial reply left when the wrapped bot died; never published.
    case discarded
    /// A reviewer approved a held reply (recorded with `reviewer` by the service's review page).
    case approved
    /// A reviewer rejected a held reply.
    case rejected
    /// Held by a request that then failed (the client never got the review id): never published.
    case withdrawn
}

/// A field a front end adds to the audit record of a message (a proxy's completion id, model, hold
/// bound, characters released…): `json` is the value as JSON text (``JSONWriter/string(_:)`` for a
/// string). A name the record already has (`time`, `seq`, `verdict`, …) is the front end's mistake;
/// readers take the first.
public struct AuditField: Sendable, Equatable {
    public var name: String
    public var json: String

    public init(_ name: String, json: String) {
        self.name = name
        self.json = json
    }

    /// A string-valued field.
    public static func string(_ name: String, _ value: String) -> AuditField { AuditField(name, json: JSONWriter.string(value)) }
    /// An integer-valued field.
    public static func int(_ name: String, _ value: Int) -> AuditField { AuditField(name, json: String(value)) }
}

/// Appends one JSON line per decision to a file (`--audit`), each with one `write(2)` on an `O_APPEND`
/// descriptor so concurrent filters can share the file. A process keeps one (its ``GateRuntime``'s), so
/// its `(pid, seq)` pairs are unique. Not thread-safe: the gate's ledger serializes its calls.
public final class AuditLog {
    public let path: String
    private let fd: Int32
    private var sequence = 0
    /// A write failed part-way: the file ends in a cut-off record, which the next write ends first.
    private var torn = false

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    /// Appends `record` (a JSON object) with `time`, `seq`, `pid`, `action` and `review` added, then
    /// `fields` (a front end's own). Throws when the record cannot be written whole (a full disk,
    /// /dev/full). After a record was cut off by a failure, the next one starts on a line of its own (the
    /// cut-off line is not JSON; readers skip it).
    public func append(record: String, action: FilterAction, review: Int64?, reason: String? = nil, reviewer: String? = nil, note: String? = nil,
                       fields extra: [AuditField] = []) throws {
        sequence += 1
        var fields = ",\"time\":\"\(ReviewQueue.timestamp())\",\"seq\":\(sequence),\"pid\":\(getpid()),\"action\":\"\(action.rawValue)\""
        if let review { fields += ",\"review\":\(review)" }
        if let reason { fields += ",\"reason\":" + JSONWriter.string(reason) }
        if let reviewer { fields += ",\"reviewer\":" + JSONWriter.string(reviewer) }
        if let note { fields += ",\"note\":" + JSONWriter.string(note) }
        for field in extra { fields += "," + JSONWriter.string(field.name) + ":" + field.json }
        var line = record
        if line.hasSuffix("}") { line.removeLast(); line += fields + "}" } else { line = "{\"record\":\(JSONWriter.string(record))\(fields)}" }
        line += "\n"
        try writeWhole(Array(((torn ? "\n" : "") + line).utf8))
    }

    /// Writes a line break: a test that the file can be written again after a failure, which also ends a
    /// record the failure cut off. Throws as ``append(record:action:review:reason:reviewer:note:)`` does.
    public func endLine() throws {
        try writeWhole([0x0A])
    }

    private func writeWhole(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = POSIXErrorCode(rawValue: errno) ?? .EIO
                if offset > 0 { torn = true }
                throw POSIXError(code)
            }
            if n == 0 {
                if offset > 0 { torn = true }
                throw POSIXError(.EIO)
            }
            offset += n
        }
        torn = false
    }
}


/// One audit-log line read back typed: the decision record plus what the gate did with the reply.
public struct AuditRecord: Decodable, Sendable {
    public let decision: Decision
    public let action: FilterAction
    public let time: String
    public let seq: Int
    public let pid: Int32
    public let review: Int64?
    public let reason: String?
    public let reviewer: String?
    public let note: String?

    enum CodingKeys: String, CodingKey { case action, time, seq, pid, review, reason, reviewer, note }

    public init(from decoder: Decoder) throws {
        decision = try Decision(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        action = try container.decode(FilterAction.self, forKey: .action)
        time = try container.decode(String.self, forKey: .time)
        seq = try container.decode(Int.self, forKey: .seq)
        pid = try container.decode(Int32.self, forKey: .pid)
        review = try container.decodeIfPresent(Int64.self, forKey: .review)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        reviewer = try container.decodeIfPresent(String.self, forKey: .reviewer)
        note = try container.decodeIfPresent(String.self, forKey: .note)
    }
}
