public enum ReplyGuardVersion { public static let string = "0.1.0" }
