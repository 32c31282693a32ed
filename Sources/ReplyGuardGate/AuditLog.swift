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
    /// Approved by a reviewer and published by this filter.
    case released
    /// Not reviewed in time; never published.
    case expired
    /// A partial reply left when the wrapped bot died; never published.
    case discarded
    /// A reviewer approved a held reply (recorded with `reviewer` by the service's review page).
    case approved
    /// A reviewer rejected a held reply.
    case rejected
}

/// Appends one JSON line per decision to a file (`--audit`), each with one `write(2)` on an `O_APPEND`
/// descriptor so concurrent filters can share the file. Not thread-safe: ``ReplyGate`` serializes its
/// calls.
public final class AuditLog {
    public let path: String
    private let fd: Int32
    private var sequence = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    /// Appends `record` (a JSON object) with `time`, `seq`, `pid`, `action` and `review` added. Throws
    /// when the record cannot be written whole (a full disk, /dev/full).
    public func append(record: String, action: FilterAction, review: Int64?, reason: String? = nil, reviewer: String? = nil, note: String? = nil) throws {
        sequence += 1
        var fields = ",\"time\":\"\(ReviewQueue.timestamp())\",\"seq\":\(sequence),\"pid\":\(getpid()),\"action\":\"\(action.rawValue)\""
        if let review { fields += ",\"review\":\(review)" }
        if let reason { fields += ",\"reason\":" + JSONWriter.string(reason) }
        if let reviewer { fields += ",\"reviewer\":" + JSONWriter.string(reviewer) }
        if let note { fields += ",\"note\":" + JSONWriter.string(note) }
        var line = record
        if line.hasSuffix("}") { line.removeLast(); line += fields + "}" } else { line = "{\"record\":\(JSONWriter.string(record))\(fields)}" }
        line += "\n"
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            if n == 0 { throw POSIXError(.EIO) }
            offset += n
        }
        bytes.removeAll()
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
