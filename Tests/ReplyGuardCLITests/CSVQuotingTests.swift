import Foundation
import ReplyGuard
import Testing

/// #12.4: a CSV quote that never closes (or one in the middle of an unquoted field) swallowed the rows
/// after it, insult included, with exit 0. It is an error naming the line (exit 2).
@Suite struct CSVQuotingTests {
    @Test func unterminatedQuoteIsAnErrorNamingItsLine() throws {
        let file = CLI.temporaryFile("u.csv", "id,text,note\n1,您好,\"x\n2,你不说话没人把你当哑巴,y\n")
        let result = try CLI.run(["scan", file])
        #expect(result.status == 2)
        #expect(result.stderr.contains("u.csv:2:"), "\(result.stderr)")
        #expect(result.stderr.contains("unterminated"), "\(result.stderr)")
    }

    @Test func quoteInsideAnUnquotedFieldIsAnErrorNamingItsLine() throws {
        let file = CLI.temporaryFile("m.csv", "id,text\n1,您好\n2,a\"b,c\n3,你不说话没人把你当哑巴\n")
        let result = try CLI.run(["scan", file])
        #expect(result.status == 2)
        #expect(result.stderr.contains("m.csv:3:"), "\(result.stderr)")
    }

    @Test func wellFormedQuotingStillWorks() throws {
        let file = CLI.temporaryFile("ok.csv", "id,text\r\n1,\"您好,\"\"办事\"\"\n大厅\"\r\n2,\"傻逼\"\r\n3,\r\n")
        let result = try CLI.run(["scan", file])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try result.decisions().map(\.verdict) == [.allow, .block, .allow])
    }
}
