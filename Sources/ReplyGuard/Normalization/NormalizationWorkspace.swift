/// One thread's normalization state for the message being decided, reused for every message.
///
/// Holds the original scalars and their byte offsets, the kept scalars with their origins and filler
/// gaps (see ``NormalizedText`` for the terms), and — built only when a regex needs it — the *folded
/// view*: every original scalar folded as for literals, ignorable characters dropped, fillers kept
/// (folded too: an ideographic space becomes " "), as UTF-8 with a map back to original scalars.
final class NormalizationWorkspace {
    /// Byte offset of each original scalar plus one entry for the end.
    var offsets = ScratchBuffer<Int32>()
    var scalars = ScratchBuffer<UInt32>()
    var kept = ScratchBuffer<UInt32>()
    var keptOrigin = ScratchBuffer<Int32>()
    var gaps = ScratchBuffer<UInt8>()
    var invalidUTF8Count = 0
    var foldingIsIdentity = true
    var foldedASCII: (UInt64, UInt64) = (0, 0)
    /// Bits of ``OtherCharacterMarks`` for the marked scalars the message holds.
    var otherSeen: UInt64 = 0
    /// The longest run of scalars that count as decimal digits (``NormalizationTables/digits``;
    /// ignorable characters neither count nor end a run).
    var longestDigitRun: Int32 = 0
    /// How many scalars count as decimal digits in all.
    var digitCount: Int32 = 0

    /// Literal matches found while normalizing: pattern id << 32 | index of the match's last kept scalar.
    var matches = ScratchBuffer<UInt64>()

    /// HTML tags and character references in the current message: start << 32 | end (original scalar
    /// indices), in order. A kept scalar decoded from a reference has the reference's `&` as its origin.
    var markup = ScratchBuffer<UInt64>()

    /// The message as a page shows it, when it holds markup (`streamDecoded`): each character reference
    /// as the scalar it names, each tag as one ``Normalizer/tag``, every other scalar as itself; the
    /// steps after decoding (pinyin annotations, folding, fillers) all read this stream, so they work the
    /// same on `當(dāng)` and on `&#x7576;&#x28;d&#257;ng)` or `<b>當(</b>dāng)`. `streamOrigins[k]` is the
    /// original index where element `k` starts, plus an end entry. Without markup the stream is `scalars`.
    var stream = ScratchBuffer<UInt32>()
    var streamOrigins = ScratchBuffer<Int32>()
    var streamDecoded = false

    /// The original index just past whatever original scalar `index` begins: the end of a tag or reference
    /// starting there, else `index + 1`.
    @inline(__always)
    func originalEnd(after index: Int) -> Int {
        guard markup.count > 0 else { return index + 1 }
        var low = 0, high = markup.count
        while low < high {
            let mid = (low + high) / 2
            if Int(markup[mid] >> 32) < index { low = mid + 1 } else { high = mid }
        }
        return low < markup.count && Int(markup[low] >> 32) == index ? Int(markup[low] & 0xFFFF_FFFF) : index + 1
    }

    var foldedViewReady = false
    var foldedBytes = ScratchBuffer<UInt8>()
    /// For each folded scalar: its byte offset in `foldedBytes` (plus an end entry) and its original index.
    var foldedStarts = ScratchBuffer<Int32>()
    var foldedOrigins = ScratchBuffer<Int32>()

    var originalScalarCount: Int { scalars.count }

    func reserveKept(_ count: Int) {
        kept.reserve(count)
        keptOrigin.reserve(count)
        gaps.reserve(count)
    }

    func setKeptCount(_ count: Int) {
        kept.count = count
        keptOrigin.count = count
        gaps.count = count
    }

    /// Room for `scalars` folded scalars (plus the end entry) and 4 bytes each.
    func reserveFolded(scalars count: Int) {
        foldedStarts.reserve(count + 1)
        foldedOrigins.reserve(count)
        foldedBytes.reserve(count * 4)
    }

    /// How many folded scalars fit in the folded buffers as reserved (with the end entry and 4 bytes each).
    var foldedScalarCapacity: Int {
        min(foldedOrigins.capacity, foldedStarts.capacity - 1, foldedBytes.capacity / 4)
    }

    func setFoldedCounts(scalars count: Int, bytes: Int) {
        foldedStarts.count = count + 1
        foldedOrigins.count = count
        foldedBytes.count = bytes
    }

    /// Index of the first kept scalar whose origin is at or after original scalar `index`.
    func keptIndex(atOrAfterOriginal index: Int) -> Int {
        var low = 0, high = keptOrigin.count
        while low < high {
            let mid = (low + high) / 2
            if Int(keptOrigin[mid]) < index { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Original scalar index of a byte offset in the original text (rounded to the scalar containing or
    /// following it).
    func originalIndex(forByte offset: Int, roundUp: Bool = false) -> Int {
        var low = 0, high = offsets.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if Int(offsets[mid]) <= offset { low = mid } else { high = mid - 1 }
        }
        return roundUp && Int(offsets[low]) < offset ? low + 1 : low
    }

    /// Original scalar index for a byte offset in the folded view that starts a scalar (or is its end).
    func originalIndex(forFoldedByte offset: Int, isEnd: Bool) -> Int {
        var low = 0, high = foldedStarts.count - 1
        while low < high {
            let mid = (low + high) / 2
            if Int(foldedStarts[mid]) < offset { low = mid + 1 } else { high = mid }
        }
        if isEnd {
            return low == 0 ? (foldedOrigins.count == 0 ? 0 : Int(foldedOrigins[0])) : originalEnd(after: Int(foldedOrigins[low - 1]))
        }
        return low < foldedOrigins.count ? Int(foldedOrigins[low]) : originalScalarCount
    }

    /// Byte offset in the folded view of the first folded scalar whose original index is at or after
    /// `index` (the view's end when there is none).
    func foldedByte(atOrAfterOriginal index: Int) -> Int {
        var low = 0, high = foldedOrigins.count
        while low < high {
            let mid = (low + high) / 2
            if Int(foldedOrigins[mid]) < index { low = mid + 1 } else { high = mid }
        }
        return Int(foldedStarts[low])
    }

    /// The current message's normalization as a value with its own arrays.
    func snapshot() -> NormalizedText {
        var text = NormalizedText()
        text.scalarByteOffsets = offsets.array
        text.scalars = scalars.array
        text.kept = kept.array
        text.keptOrigin = keptOrigin.array
        text.gaps = gaps.array
        text.invalidUTF8Count = invalidUTF8Count
        text.foldingIsIdentity = foldingIsIdentity
        text.foldedASCII = foldedASCII
        return text
    }
}
