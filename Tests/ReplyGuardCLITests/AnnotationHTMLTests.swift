import Foundation
import Testing

/// Issue 17, R7: `filter` published the incident line when `當` was written as an HTML reference or a tag
/// stood inside its pinyin annotation; `scan` must decide such lines the same with the prefilters off.
@Suite struct AnnotationHTMLTests {
    static let lines = ["你不說話沒人把你&#x7576;(dāng)啞巴", "你不說話沒人把你&#30070;(dāng)啞巴", "你不說話沒人把你當&#x28;dāng&#x29;啞巴",
                        "你不說話沒人把你當(d&#257;ng)啞巴", "你不說話沒人把你<b>當(</b>dāng)啞巴", "你不說話沒人把你當(<i>dāng</i>)啞巴"]

    @Test func filterDoesNotPublishTheIncidentLineWrittenInHTML() throws {
        let queue = CLI.temporaryDirectory() + "/q.sqlite3"
        let input = AnnotationHTMLTests.lines.joined(separator: "\n") + "\n"
        let result = try CLI.run(["filter", "--queue", queue], stdin: Array(input.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines.count == AnnotationHTMLTests.lines.count)
        for line in result.lines {
            #expect(!line.contains("啞巴") && !line.contains("dāng"), "published: \(line)")
            #expect(line.contains("12345"), "not the fallback reply: \(line)")
        }
    }

    @Test func scanIsByteIdenticalWithThePrefiltersOff() throws {
        let text = AnnotationHTMLTests.lines + ["你不說話沒人把你當 (dāng) 啞巴", "你就是个(sb)", "闭 嘴", "投诉人电话1 3 8 1 2 3 4 5 6 7 8",
                                                "办事大厅周一至周五开放", "當(dāng)然可以", "&lt;b&gt;闭嘴&lt;/b&gt;", "闭<b>嘴</b>"]
        let file = CLI.temporaryFile("lines.txt", text.joined(separator: "\n") + "\n")
        var environment = ProcessInfo.processInfo.environment
        let on = try CLI.runBounded(["scan", file], environment: environment).output
        environment["REPLYGUARD_PREFILTER"] = "off"
        let off = try CLI.runBounded(["scan", file], environment: environment).output
        #expect(on.status == 1 && off.status == 1)
        #expect(on.stdout == off.stdout)
        #expect(on.lines.count == text.count)
        #expect(try on.decisions().prefix(AnnotationHTMLTests.lines.count).allSatisfy { $0.verdict == .block })
    }
}
