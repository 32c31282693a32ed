import Foundation
import ReplyGuard
import ReplyGuardGate

/// The reviewer's page: server-rendered HTML with plain forms (no script at all; the Content-Security-
/// Policy forbids it), every text escaped. Usable with a keyboard alone: every control is a native
/// button, textarea or input with a label, in reading order; `accesskey`s: `a` approve and `r` reject
/// the first pending reply, `n` its note.
extension ServerApp {
    func page(_ request: HTTPRequest, _ segments: [String]) -> HTTPResponse {
        let method = request.method
        let route = segments.count == 3 ? "decide" : segments[0]
        if let seconds = access.blocked(request, signingIn: method == "POST" && route == "login") {
            return .html(429, HTML.login(message: "Too many wrong tokens from your address. Try again in \(seconds) seconds.", open: access.open),
                         headers: [("Retry-After", String(seconds))])
        }
        // Secure when asked, or when the request came through a TLS proxy (a client that claims so
        // falsely only loses its own cookie).
        let secure = configuration.secureCookie
            || request.header("x-forwarded-proto")?.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
        let cookieAttributes = "HttpOnly; SameSite=Strict; Path=/" + (secure ? "; Secure" : "")
        switch (method, route) {
        case ("GET", "login"):
            return .redirect("/review")
        case ("POST", "login"):
            guard Access.notCrossSite(request) else { return .html(403, HTML.login(message: "This sign-in came from another site and was refused.", open: access.open)) }
            let fields = FormBody.fields(request.body)
            guard let session = access.signIn(name: fields["name"] ?? "", token: fields["token"] ?? "", client: access.client(request)) else {
                return .html(401, HTML.login(message: (fields["name"] ?? "").isEmpty ? "Enter your name." : "Wrong token.", open: access.open))
            }
            return .redirect("/review", headers: [("Set-Cookie", "\(Access.cookieName)=\(session); \(cookieAttributes); Max-Age=\(Int(Access.sessionLifetime))")])
        case ("POST", "logout"):
            if let reviewer = access.reviewer(request), let session = reviewer.session, Access.notCrossSite(request) { access.signOut(session) }
            return .redirect("/review", headers: [("Set-Cookie", "\(Access.cookieName)=; \(cookieAttributes); Max-Age=0")])
        case ("GET", "review"), ("HEAD", "review"):
            guard let reviewer = access.reviewer(request) else {
                if request.query["auth"] == "basic" {
                    return .html(401, HTML.login(message: nil, open: access.open), headers: [("WWW-Authenticate", "Basic realm=\"replyguard review\", charset=\"UTF-8\"")])
                }
                return .html(200, HTML.login(message: nil, open: access.open))
            }
            return reviewPage(reviewer, notice: request.query["notice"])
        case ("POST", "decide"):
            let id = segments[1]
            guard let reviewer = access.reviewer(request) else { return .html(401, HTML.login(message: "Sign in first.", open: access.open)) }
            let fields = FormBody.fields(request.body)
            guard Access.sameOriginForm(request, fields: fields, reviewer: reviewer) else {
                let body = "<main><h1>Refused</h1><p>This form did not come from the review page (missing or wrong form token, "
                    + "or sent from another site). Nothing was changed.</p><p><a href=\"/review\">Back to the queue</a></p></main>"
                return .html(403, HTML.document(title: "Refused", body: body))
            }
            guard let number = Int64(id), let choice = fields["decision"], choice == "approve" || choice == "reject" else {
                return .html(400, HTML.document(title: "Bad request", body: "<main><p>The form needs a review id and a decision (approve or reject).</p></main>"))
            }
            let note = fields["note"].flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
            let notice: String
            do {
                let outcome = try state.desk.decide(number, approve: choice == "approve", note: note, by: reviewer.name)
                notice = outcome.refusal.map { "Review \(number) \($0); nothing was changed." }
                    ?? "Review \(number) \(choice == "approve" ? "approved" : "rejected") by \(reviewer.name)."
            } catch let error as AuditWriteError {
                notice = "The decision could not be recorded: \(error). Nothing was changed: review \(number) is still pending."
            } catch {
                notice = "The review queue could not be written (\(error)); nothing was changed."
            }
            return .redirect("/review?notice=" + (notice.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        default:
            return .html(405, HTML.document(title: "Not allowed", body: "<main><p>Method not allowed.</p></main>"))
        }
    }

    private func reviewPage(_ reviewer: Access.Reviewer, notice: String?) -> HTTPResponse {
        let state = self.state
        let pending: [ReviewItem], decided: [ReviewItem]
        do {
            // Expiring needs the audit log; the page shows the queue even when the log cannot be written.
            try? state.desk.expire()
            pending = try state.desk.list(.pending)
            decided = try state.desk.recentlyDecided(limit: 50)
        } catch {
            return .html(503, HTML.document(title: "Queue unavailable", body: "<main><h1>The review queue cannot be read</h1><p>\(HTML.escape("\(error)"))</p></main>"))
        }
        var body = "<header><h1>replyguard review</h1><p>Signed in as <strong>\(HTML.escape(reviewer.name))</strong>. Rules \(HTML.escape(String(state.engine.ruleSet.digest.prefix(19))))…</p>"
        if reviewer.session != nil {
            body += "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>"
        }
        body += "</header><main>"
        if let notice { body += "<p class=\"notice\" role=\"status\">\(HTML.escape(notice))</p>" }
        body += "<section aria-labelledby=\"pending-h\"><h2 id=\"pending-h\">Pending (\(pending.count))</h2>"
        if pending.isEmpty { body += "<p>No replies are waiting for review.</p>" }
        for (i, item) in pending.enumerated() { body += HTML.pendingItem(item, csrf: reviewer.csrf, first: i == 0) }
        body += "</section><section aria-labelledby=\"decided-h\"><h2 id=\"decided-h\">Decided</h2>"
        body += decided.isEmpty ? "<p>None yet.</p>" : HTML.decidedTable(Array(decided))
        body += "</section><section aria-labelledby=\"audit-h\"><h2 id=\"audit-h\">Audit trail</h2>"
        body += HTML.auditTable(state.desk.auditTail(lines: 50))
        body += "</section></main>"
        return .html(200, HTML.document(title: "replyguard review (\(pending.count) pending)", body: body))
    }
}

enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters and line/paragraph separators are shown, not obeyed.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    out += "<span class=\"ctl\">U+\(String(format: "%04X", scalar.value))</span>"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body{font-family:"Noto Sans CJK SC","Noto Sans",sans-serif;margin:0;color:#1b1b1b;background:#f6f6f4}
        header{background:#233;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}
        header h1{font-size:1.2em;margin:0} header p{margin:0}
        main{padding:1em 1.2em;max-width:70em}
        .item{background:#fff;border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:.8em 0}
        .reply{font-size:1.25em;line-height:1.7;white-space:pre-wrap;word-break:break-all}
        mark{background:#ffd24d;color:#000;border-bottom:2px solid #b35900;padding:0 .1em;margin:0 .15em}
        table{border-collapse:collapse;margin:.4em 0} caption{text-align:left} th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
        .meta{color:#555;font-size:.9em} .notice{background:#e6f4ea;border:1px solid #8c8;padding:.5em}
        .error{color:#a00} .ctl{font-size:.7em;border:1px solid #999;padding:0 .2em}
        button{font-size:1em;padding:.3em 1em;margin-right:.5em} button:focus,textarea:focus,input:focus{outline:3px solid #1a73e8}
        .approve{background:#1e7d32;color:#fff;border:0;border-radius:4px} .reject{background:#b3261e;color:#fff;border:0;border-radius:4px}
        textarea{width:100%;max-width:40em}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func login(message: String?, open: Bool) -> String {
        var body = "<main><h1>replyguard review: sign in</h1>"
        if let message { body += "<p class=\"error\" role=\"alert\">\(escape(message))</p>" }
        body += """
        <form method="post" action="/login">
        <p><label for="name">Your name (recorded with every decision)</label><br><input id="name" name="name" required maxlength="64" autocomplete="username" autofocus></p>
        """
        if !open {
            body += "<p><label for=\"token\">Access token</label><br><input id=\"token\" name=\"token\" type=\"password\" required autocomplete=\"current-password\"></p>"
        }
        body += "<p><button type=\"submit\">Sign in</button></p></form></main>"
        return document(title: "replyguard review: sign in", body: body)
    }

    /// The decision record of a held reply, read typed (schema `replyguard.decision/1`); a record that does
    /// not decode shows as an error, so the reviewer sees that something is off.
    struct Why {
        var hits: [Hit] = []
        var scores: [String: Int] = [:]
        var errors: [String] = []
        var verdict = "?"

        init(_ record: String) {
            do {
                let decision = try JSONDecoder().decode(Decision.self, from: Data(record.utf8))
                hits = decision.hits
                scores = decision.scores
                errors = decision.errors.map { error in (error.rule.map { "\($0): " } ?? "") + error.message }
                verdict = decision.verdict.rawValue
            } catch {
                errors = ["the stored decision record could not be read (\(error))"]
            }
        }
    }

    /// The reply with every hit's byte span in a `<mark>` (overlapping spans merged), titled with its rules.
    static func highlighted(_ text: [UInt8], hits: [Hit]) -> String {
        var spans: [(Range<Int>, [String])] = []
        for hit in hits where hit.byteStart >= 0 && hit.byteEnd <= text.count && hit.byteStart < hit.byteEnd {
            spans.append((hit.byteStart..<hit.byteEnd, [hit.rule]))
        }
        spans.sort { $0.0.lowerBound < $1.0.lowerBound }
        var merged: [(Range<Int>, [String])] = []
        for span in spans {
            if let last = merged.last, span.0.lowerBound < last.0.upperBound {
                merged[merged.count - 1] = (last.0.lowerBound..<max(last.0.upperBound, span.0.upperBound), last.1 + span.1)
            } else {
                merged.append(span)
            }
        }
        var out = ""
        var at = 0
        for (range, rules) in merged {
            out += escape(String(decoding: text[at..<range.lowerBound], as: UTF8.self))
            out += "<mark title=\"\(escape(rules.joined(separator: ", ")))\">\(escape(String(decoding: text[range], as: UTF8.self)))</mark>"
            at = range.upperBound
        }
        return out + escape(String(decoding: text[at...], as: UTF8.self))
    }

    static func pendingItem(_ item: ReviewItem, csrf: String, first: Bool) -> String {
        let why = Why(item.decision)
        var out = "<article class=\"item\" id=\"review-\(item.id)\" aria-labelledby=\"review-\(item.id)-h\"><h3 id=\"review-\(item.id)-h\">Review \(item.id) <span class=\"meta\">(\(escape(why.verdict)))</span></h3>"
        out += "<p class=\"meta\">Held \(escape(item.createdAt))\(item.expiresAt.map { ", expires \(escape($0))" } ?? "")\(item.messageID.map { ", message id \(escape($0))" } ?? "")</p>"
        out += "<p class=\"reply\" lang=\"zh\">\(highlighted(item.text, hits: why.hits))</p>"
        if !why.hits.isEmpty {
            out += "<table><caption class=\"meta\">Why it was held</caption><thead><tr><th scope=\"col\">rule</th>"
            out += "<th scope=\"col\">category</th><th scope=\"col\">action</th><th scope=\"col\">score</th>"
            out += "<th scope=\"col\">matched</th><th scope=\"col\">characters</th></tr></thead><tbody>"
            for hit in why.hits {
                let action = hit.action.map { $0.rawValue } ?? "score only"
                out += "<tr><td>\(escape(hit.rule))</td><td>\(escape(hit.category))</td><td>\(action)\(hit.reported ? " (reported speech)" : "")</td>"
                out += "<td>\(hit.score.map(String.init) ?? "–")</td><td lang=\"zh\">\(escape(hit.match))</td>"
                out += "<td>\(hit.start)–\(hit.end)</td></tr>"
            }
            out += "</tbody></table>"
        }
        if !why.scores.isEmpty {
            out += "<p class=\"meta\">Scores: \(why.scores.sorted { $0.key < $1.key }.map { "\(escape($0.key)) \($0.value)" }.joined(separator: ", "))</p>"
        }
        for error in why.errors { out += "<p class=\"error\">Could not be checked normally: \(escape(error))</p>" }
        out += """
        <form method="post" action="/review/\(item.id)/decide">
        <input type="hidden" name="csrf" value="\(escape(csrf))">
        <p><label for="note-\(item.id)">Note for review \(item.id) (optional)</label><br><textarea id="note-\(item.id)" name="note" rows="2"\(first ? " accesskey=\"n\"" : "")></textarea></p>
        <p><button class="approve" type="submit" name="decision" value="approve"\(first ? " accesskey=\"a\"" : "")>Approve and publish</button><button class="reject" type="submit" name="decision" value="reject"\(first ? " accesskey=\"r\"" : "")>Reject</button></p>
        </form></article>
        """
        return out
    }

    static func decidedTable(_ items: [ReviewItem]) -> String {
        var out = "<table><thead><tr><th scope=\"col\">review</th><th scope=\"col\">status</th><th scope=\"col\">decided</th><th scope=\"col\">by</th><th scope=\"col\">note</th><th scope=\"col\">reply</th></tr></thead><tbody>"
        for item in items {
            out += "<tr><td>\(item.id)</td><td>\(item.status.rawValue)</td><td>\(escape(item.decidedAt ?? "–"))</td>"
            out += "<td>\(escape(item.decidedBy ?? (item.releasedBy.map { "released by \($0)" } ?? "")))</td>"
            out += "<td>\(escape(item.note ?? ""))</td><td lang=\"zh\">\(escape(String(decoding: item.text.prefix(400), as: UTF8.self)))</td></tr>"
        }
        return out + "</tbody></table>"
    }

    static func auditTable(_ records: [AuditRecord]?) -> String {
        guard let records else { return "<p>No audit log (start the server with <code>--audit FILE</code>).</p>" }
        guard !records.isEmpty else { return "<p>The audit log is empty.</p>" }
        var out = "<table><thead><tr><th scope=\"col\">time</th><th scope=\"col\">action</th><th scope=\"col\">review</th><th scope=\"col\">verdict</th><th scope=\"col\">reviewer</th><th scope=\"col\">note</th></tr></thead><tbody>"
        for record in records {
            out += "<tr><td>\(escape(record.time))</td><td>\(record.action.rawValue)</td><td>\(record.review.map(String.init) ?? "")</td>"
            out += "<td>\(record.decision.verdict.rawValue)</td><td>\(escape(record.reviewer ?? ""))</td>"
            out += "<td>\(escape(record.note ?? ""))</td></tr>"
        }
        return out + "</tbody></table>"
    }
}
