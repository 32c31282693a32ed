#!/usr/bin/env python3
"""Local fakes for the WeChat tests (Tests/ReplyGuardCLITests/WeChatTests.swift): the bot behind the
account (its callback at /bot, plain XML; an OpenAI-compatible /v1/chat/completions) and the platform's
API (/cgi-bin/token, /cgi-bin/message/custom/send, as documented). Prints its port and the port of the
platform's API (the same handler on a listener of its own, which can go down), then serves until killed.

The bot is scripted by the user's text: "hold ..." waits until POST /control/release; "say:TEXT" answers
TEXT; "silent" answers success; anything else "收到：TEXT". On the callback, "news:TITLE" answers a news
reply whose title is TITLE as escaped text (no CDATA), "newsref:TITLE" with every character a numeric
character reference, "music:TITLE" a music reply; "twocontent:TEXT" a text reply with a clean <Content> and
then TEXT's, "twomsgtype:TEXT" a clean text reply followed by a second <MsgType> (news) whose title is TEXT,
"numinject:TEXT" a clean news reply whose <ArticleCount> is escaped markup carrying a <Content> of TEXT.
GET /control/state tells what happened ("sends": the messages the user was shown).

POST /control/plan {"OPENID": [action, …], "__token__": ["down"]} scripts the platform's API: each
custom/send to OPENID takes the next action — "ok"; "busy" (errcode -1, not shown); "close" (shown, then
the connection is closed without an answer); an action ending in "*" is not used up. "down" on the next
access-token request closes the API's listener (connections refused) for half a second, then answers."""
import json
import os
import signal
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

lock = threading.Lock()
released = threading.Event()
state = {"bot_calls": [], "sends": [], "tokens": 0, "bot_queries": [], "refused": [], "api_down": 0}
plans = {}
api = {"server": None, "port": 0}


def next_action(key):
    with lock:
        plan = plans.get(key) or []
        if not plan:
            return "ok"
        if plan[0].endswith("*"):
            return plan[0][:-1]
        return plan.pop(0)


def start_api(port=0):
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    api["server"], api["port"] = server, server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()


def api_down(seconds):
    server = api["server"]
    server.shutdown()
    server.server_close()
    with lock:
        state["api_down"] += 1
    threading.Timer(seconds, lambda: start_api(api["port"])).start()


def script(text):
    if text.startswith("hold"):
        released.wait(60)
        return "请稍等，答复如下：" + text
    if text.startswith("say:"):
        return text[4:]
    if text == "silent":
        return None
    return "收到：" + text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/control/state":
            with lock:
                return self.answer(200, json.dumps(state, ensure_ascii=False))
        if url.path == "/cgi-bin/token":
            query = parse_qs(url.query)
            with lock:
                state["tokens"] += 1
            if next_action("__token__") == "down":
                api_down(0.5)
            if query.get("appid") != ["wx-test-appid"] or query.get("secret") != ["test-app-secret"]:
                return self.answer(200, json.dumps({"errcode": 40013, "errmsg": "invalid appid"}))
            return self.answer(200, json.dumps({"access_token": "ACCESS-TOKEN-1", "expires_in": 7200}))
        self.answer(404, "{}")

    def do_POST(self):
        url = urlparse(self.path)
        raw = self.body()
        if url.path == "/control/plan":
            with lock:
                plans.update(json.loads(raw))
            return self.answer(200, "{}")
        if url.path == "/control/release":
            released.set()
            return self.answer(200, "{}")
        if url.path == "/bot":
            root = ET.fromstring(raw)
            fields = {child.tag: child.text or "" for child in root}
            with lock:
                state["bot_calls"].append(fields)
                state["bot_queries"].append(url.query)
            if fields.get("MsgType") == "event":
                reply = "欢迎关注" if fields.get("Event") == "subscribe" else None
            elif fields.get("MsgType") == "text" and fields.get("Content", "").split(":")[0] in (
                    "news", "newsref", "music", "twocontent", "twomsgtype", "numinject"):
                kind, title = fields["Content"].split(":", 1)
                title = "".join("&#%d;" % ord(c) for c in title) if kind == "newsref" else escape(title)
                news = ("<ArticleCount>1</ArticleCount><Articles><item><Title>%s</Title><Description><![CDATA[办事说明]]></Description>"
                        "</item></Articles>") % title
                if kind == "twocontent":
                    body = "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好]]></Content><Content>%s</Content>" % title
                elif kind == "twomsgtype":
                    body = "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好]]></Content><MsgType><![CDATA[news]]></MsgType>" + news
                elif kind == "numinject":
                    injected = escape("</ArticleCount><Content>%s</Content><ArticleCount>" % fields["Content"].split(":", 1)[1])
                    body = "<MsgType><![CDATA[news]]></MsgType>" + news.replace(title, "办事指南").replace("<ArticleCount>1", "<ArticleCount>1" + injected, 1)
                elif kind == "music":
                    body = ("<MsgType><![CDATA[music]]></MsgType><Music><Title>%s</Title><Description><![CDATA[歌曲]]></Description>"
                            "<MusicUrl><![CDATA[http://example.com/a.mp3]]></MusicUrl></Music>") % title
                else:
                    body = ("<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title>%s</Title>"
                            "<Description><![CDATA[办事说明]]></Description><PicUrl><![CDATA[http://example.com/a.png]]></PicUrl>"
                            "<Url><![CDATA[http://example.com/a]]></Url></item></Articles>") % title
                xml = ("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"
                       "<CreateTime>%d</CreateTime>%s</xml>" % (fields["FromUserName"], fields["ToUserName"], int(time.time()), body))
                return self.answer(200, xml, "application/xml")
            elif fields.get("MsgType") == "text":
                reply = script(fields.get("Content", ""))
            else:
                reply = "收到一条%s消息" % fields.get("MsgType")
            if reply is None:
                return self.answer(200, "success", "text/plain")
            xml = ("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"
                   "<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content></xml>"
                   % (fields["FromUserName"], fields["ToUserName"], int(time.time()), reply))
            return self.answer(200, xml, "application/xml")
        if url.path == "/v1/chat/completions":
            request = json.loads(raw)
            text = request["messages"][-1]["content"]
            with lock:
                state["bot_calls"].append({"Content": text, "model": request.get("model"),
                                           "authorization": self.headers.get("Authorization")})
            reply = script(text) or ""
            return self.answer(200, json.dumps({"id": "c1", "object": "chat.completion", "model": request.get("model"),
                                                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                                             "finish_reason": "stop"}]}))
        if url.path == "/cgi-bin/message/custom/send":
            query = parse_qs(url.query)
            message = json.loads(raw)
            if query.get("access_token") != ["ACCESS-TOKEN-1"]:
                return self.answer(200, json.dumps({"errcode": 40001, "errmsg": "invalid credential"}))
            action = next_action(message.get("touser"))
            if action == "busy":
                with lock:
                    state["refused"].append(message)
                return self.answer(200, json.dumps({"errcode": -1, "errmsg": "system error"}))
            with lock:
                state["sends"].append(message)
            if action == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if message.get("touser") == "user-out-of-window":
                return self.answer(200, json.dumps({"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled"}))
            return self.answer(200, json.dumps({"errcode": 0, "errmsg": "ok"}))
        self.answer(404, "{}")


def exit_when_stdin_closes():
    """With --exit-when-stdin-closes (the Swift tests): exit once standard input closes, when the test
    process ends however it ends, so no fixture outlives a test run."""
    sys.stdin.buffer.read()
    os._exit(0)


if "--exit-when-stdin-closes" in sys.argv[1:]:
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()

signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
start_api()
print(server.server_address[1], api["port"], flush=True)
server.serve_forever()
