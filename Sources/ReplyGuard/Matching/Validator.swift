/// Checks a regex match beyond its shape (`validate:` next to `regex:` in a rule). A match that fails
/// validation is not a hit. Validators look only at the ASCII digits (and a final `X`) of the match, so
/// a pattern may allow spaces or dashes between groups.
public enum Validator: String, Sendable, CaseIterable {
    /// 18-character PRC resident identity number: 6-digit region (first digit 1–9), a real birth date
    /// (1900–2099), 3-digit sequence and the ISO 7064 MOD 11-2 check character (`0-9` or `X`).
    case cnResidentID = "cn-resident-id"
    /// Payment card number: 13–19 digits passing the Luhn checksum, not all the same digit.
    case luhn
    /// Mainland mobile number: 11 digits starting with 13–19 (with an optional +86/86 prefix).
    case cnMobile = "cn-mobile"

    public func accepts<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var digits: [Int] = []
        var trailingX = false
        for byte in bytes {
            if byte >= 0x30 && byte <= 0x39 {
                if trailingX { return false }
                digits.append(Int(byte - 0x30))
            } else if byte == UInt8(ascii: "x") || byte == UInt8(ascii: "X") {
                if trailingX { return false }
                trailingX = true
            }
        }
        switch self {
        case .cnResidentID:
            guard digits.count == (trailingX ? 17 : 18), digits[0] != 0 else { return false }
            let year = digits[6] * 1000 + digits[7] * 100 + digits[8] * 10 + digits[9]
            let month = digits[10] * 10 + digits[11], day = digits[12] * 10 + digits[13]
            guard (1900...2099).contains(year), (1...12).contains(month), (1...Validator.days(month, year)).contains(day) else { return false }
            let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
            let sum = zip(digits.prefix(17), weights).reduce(0) { $0 + $1.0 * $1.1 }
            let check = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2][sum % 11]
            return trailingX ? check == 10 : check == digits[17]
        case .luhn:
            guard !trailingX, (13...19).contains(digits.count), Set(digits).count > 1 else { return false }
            var sum = 0
            for (i, d) in digits.reversed().enumerated() {
                if i % 2 == 1 { let doubled = d * 2; sum += doubled > 9 ? doubled - 9 : doubled } else { sum += d }
            }
            return sum % 10 == 0
        case .cnMobile:
            var number = digits[...]
            if number.count == 13 && number.starts(with: [8, 6]) { number = number.dropFirst(2) }
            guard !trailingX, number.count == 11, number.first == 1, let second = number.dropFirst().first else { return false }
            return (3...9).contains(second)
        }
    }

    private static func days(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
