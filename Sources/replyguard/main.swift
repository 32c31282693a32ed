print("replyguard")
