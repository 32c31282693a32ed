#!/usr/bin/env python3
"""The WeChat platform for the tests, with the real wechatpy: builds pushes (plain, or encrypted with
WeChatCrypto.encrypt_message and signed), sends them to replyguard serve, and checks and decrypts the
answers with WeChatCrypto.decrypt_message.

    wechat-platform.py PORT PATH '[{spec}, …]'  → one JSON result per spec, one per line

A spec: {"content": "…", "msgid": 1, "user": "openid", "type": "text"|"event"|"image", "event": "subscribe",
"mode": "aes"|"plain"|"verify", "nonce": "…", "timestamp": N, "appid": "other id to encrypt with",
"token": "other token to sign with", "body": "raw body to send instead", "parallel": true (sent at once with
the next specs marked parallel)}."""
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature  # noqa: F401  (the platform's own signature helper)
import hashlib

TOKEN = "test-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx-test-appid"
ACCOUNT = "gh_test_account"


def sign(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def push_xml(spec, now):
    user = spec.get("user", "user-1")
    created = spec.get("create_time", now)
    kind = spec.get("type", "text")
    xml = "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime>" % (ACCOUNT, user, created)
    if kind == "text":
        xml += "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId>" % (spec["content"], spec["msgid"])
    elif kind == "event":
        xml += "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event>" % spec.get("event", "subscribe")
    else:
        xml += "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://example.org/p.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>%d</MsgId>" % spec["msgid"]
    return xml + "</xml>"


def send(port, path, spec):
    now = int(time.time())
    timestamp = str(spec.get("timestamp", now))
    nonce = spec.get("nonce") or uuid.uuid4().hex[:10]
    token = spec.get("token", TOKEN)
    mode = spec.get("mode", "aes")
    query = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, "openid": spec.get("user", "user-1")}
    method = "POST"
    body = b""
    if mode == "verify":
        method = "GET"
        query["echostr"] = spec.get("echostr", "echo-1234")
    elif mode == "plain":
        body = spec.get("body", push_xml(spec, now)).encode()
    else:
        crypto = WeChatCrypto(token, spec.get("key", AES_KEY), spec.get("appid", APPID))
        xml = push_xml(spec, now)
        push_pad = 32 - (20 + len(xml.encode()) + len(spec.get("appid", APPID).encode())) % 32
        encrypted = crypto.encrypt_message(xml, nonce, timestamp)
        # encrypt_message gives the reply form; the push is <xml><ToUserName/><Encrypt/></xml> with
        # msg_signature in the query (as the platform sends it).
        import xmltodict
        fields = xmltodict.parse(encrypted)["xml"]
        cipher = fields["Encrypt"]
        query["encrypt_type"] = "aes"
        query["msg_signature"] = spec.get("msg_signature", fields["MsgSignature"])
        body = spec.get("body", "<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>" % (ACCOUNT, cipher)).encode()
    if spec.get("bad_signature"):
        query["signature"] = "0" * 40
    url = "http://127.0.0.1:%d%s?%s" % (port, path, "&".join("%s=%s" % (k, urllib.request.quote(v)) for k, v in query.items()))
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method,
                                     headers={"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    result = {"status": status, "body": text, "nonce": nonce, "timestamp": timestamp}
    if mode == "aes":
        result["push_pad"] = push_pad
    if mode == "aes" and status == 200 and text.startswith("<xml>"):
        import xmltodict
        outer = xmltodict.parse(text)["xml"]
        crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
        # decrypt_message checks the reply's MsgSignature and the AppID inside (raises otherwise).
        plain = crypto.decrypt_message(text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        result["reply"] = dict(xmltodict.parse(plain)["xml"])
        result["reply_pad"] = 32 - (20 + len(plain.encode()) + len(APPID.encode())) % 32
        result["nonce_echoed"] = outer["Nonce"] == nonce
    elif mode == "plain" and status == 200 and text.startswith("<xml>"):
        import xmltodict
        result["reply"] = dict(xmltodict.parse(text)["xml"])
    return result


def main():
    port, path, specs = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    results = [None] * len(specs)
    i = 0
    while i < len(specs):
        if specs[i].get("parallel"):
            group = []
            while i < len(specs) and specs[i].get("parallel"):
                group.append(i)
                i += 1
            threads = []
            for j in group:
                def run(j=j):
                    results[j] = send(port, path, specs[j])
                t = threading.Thread(target=run)
                t.start()
                threads.append(t)
                time.sleep(0.05)
            for t in threads:
                t.join()
        else:
            results[i] = send(port, path, specs[i])
            i += 1
    for result in results:
        print(json.dumps(result, ensure_ascii=False))


main()
