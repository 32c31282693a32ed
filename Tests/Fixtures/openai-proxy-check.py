#!/usr/bin/env python3
"""Drives `replyguard serve --upstream` with the real `openai` client (PyPI) against openai-upstream.py.

Usage: openai-proxy-check.py PROXY_PORT TOKEN UPSTREAM_PORT SCENARIO...
Each scenario asserts what the client received; prints one line `ok SCENARIO` each, exits 1 on the
first failure. The rules are Tests/Fixtures/proxy-rules (no model pack, so replies stream)."""
import base64
import json
import sys
import time

import http.client
import urllib.request
import openai
import pydantic

PORT, TOKEN, UPSTREAM = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
FALLBACK = "抱歉，这个问题我暂时无法回答。"
HOLDING = "您的留言已收到，工作人员将尽快人工回复。"
client = openai.OpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key=TOKEN, max_retries=0, timeout=60)
CLEAN = "今天天气很好，我们一起去公园散步吧。公园里有很多花，红的黄的紫的都有，孩子们在草地上玩耍，老人们在树下下棋聊天，大家都很开心。"
BLOCKED = ["狗东西", "gou dong xi", "下3滥", "笨蛋", "滚*蛋"]
PREFIX = "今天天气很好，我们一起去公园散步吧。公园里有很多花，红的黄的紫的都有，"


def event(obj):
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def chunk(choices, **extra):
    return event({"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **extra})


def delta(content=None, index=0, finish=None, role=False):
    d = {}
    if role:
        d["role"] = "assistant"
    if content is not None:
        d["content"] = content
    return {"index": index, "delta": d, "finish_reason": finish}


def sse(pieces, done=True, usage=None, index=0):
    raw = chunk([delta("", index, role=True)]) + b"".join(chunk([delta(p, index)]) for p in pieces)
    raw += chunk([delta(None, index, finish="stop")])
    if usage:
        raw += chunk([], usage=usage)
    return raw + (b"data: [DONE]\n\n" if done else b"")


def script(writes, end="ok", delay=0):
    return {"x_script": {"writes": [base64.b64encode(w).decode() for w in writes], "end": end, "delay": delay}}


def stream(writes, end="ok", **kwargs):
    """The content of each choice, its finish reason, the tool calls and usage the client saw."""
    out, finish, tools, usage = {}, {}, [], None
    s = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
                                       extra_body=script(writes, end), **kwargs)
    for c in s:
        if c.usage:
            usage = c.usage
        for ch in c.choices:
            out[ch.index] = out.get(ch.index, "") + (ch.delta.content or "")
            if ch.delta.tool_calls:
                tools.append(ch.delta.tool_calls)
            if ch.finish_reason:
                finish[ch.index] = ch.finish_reason
    return out, finish, tools, usage


def raw(writes, end="ok"):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, **script(writes, end)}
    r = post(body)
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data.replace(b": keep-alive\n\n", b"")


def post(body):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    connection.request("POST", "/v1/chat/completions", body=json.dumps(body),
                       headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    return connection.getresponse()


def broken():
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{UPSTREAM}/control/state"))["broken"]


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)


def blocked_outcome(text, full, message, word):
    """The client got a prefix of the reply that stops before `word`, then the fallback reply."""
    check(text.endswith(FALLBACK), f"{message}: no fallback at the end: {text!r}")
    sent = text[: len(text) - len(FALLBACK)]
    start = full.index(word)
    check(full.startswith(sent) and len(sent) <= start, f"{message}: sent {sent!r}, beyond the safe prefix of {full!r}")


def scenario_clean_bytes():
    for pieces in [list(CLEAN), [CLEAN[i:i + 7] for i in range(0, len(CLEAN), 7)]]:
        upstream = sse(pieces, usage={"prompt_tokens": 3, "completion_tokens": 60, "total_tokens": 63})
        upstream = upstream.replace(b'"model": "m"', b'"model": "m", "system_fingerprint": "fp_x", "x_unknown": {"a": [1]}', 1)
        upstream = chunk([], prompt_filter_results=[{"prompt_index": 0}]) + upstream
        status, headers, got = raw([upstream[i:i + 5] for i in range(0, len(upstream), 5)])
        check(status == 200, f"clean stream: HTTP {status}")
        check(got == upstream, f"clean stream not byte for byte:\n{got!r}\n{upstream!r}")
        check(headers.get("x-replyguard-hold", "").endswith("characters"), f"hold header: {headers.get('x-replyguard-hold')}")


def scenario_every_split():
    runs = 0
    for word in BLOCKED:
        full = PREFIX + word + "，后面还有一些话。"
        splittings = [list(full)]
        for i in range(1, len(full)):
            splittings.append([full[:i], full[i:]])
        w = full.index(word)
        for i in range(w - 2, w + len(word) + 1):
            for j in range(i + 1, w + len(word) + 2):
                splittings.append([full[:i], full[i:j], full[j:]])
        for pieces in splittings:
            out, finish, _, _ = stream([sse(pieces)])
            blocked_outcome(out.get(0, ""), full, f"{word} split {pieces}", word)
            check(finish.get(0) == "content_filter", f"{word}: finish {finish}")
            runs += 1
        # Byte splits across reads (a UTF-8 character split too), one character per event.
        upstream = sse(list(full))
        at = upstream.index(json.dumps(word[0], ensure_ascii=False).encode()) - 150
        for k in range(max(1, at), min(len(upstream), at + 400), 3):
            out, finish, _, _ = stream([upstream[:k], upstream[k:]])
            blocked_outcome(out.get(0, ""), full, f"{word} byte split at {k}", word)
            runs += 1
    return runs


def scenario_choices():
    clean, bad = CLEAN, PREFIX + "狗东西，还有话"
    events = chunk([delta("", 0, role=True), delta("", 1, role=True)])
    for k in range(max(len(clean), len(bad))):
        choices = []
        if k < len(clean):
            choices.append(delta(clean[k], 0))
        if k < len(bad):
            choices.append(delta(bad[k], 1))
        events += chunk(choices)
    events += chunk([delta(None, 0, "stop"), delta(None, 1, "stop")]) + b"data: [DONE]\n\n"
    out, finish, _, _ = stream([events], n=2)
    blocked_outcome(out.get(1, ""), bad, "n=2 choice 1", "狗东西")
    check(out.get(0, "").endswith(FALLBACK) and clean.startswith(out[0][: -len(FALLBACK)]), f"n=2 choice 0: {out.get(0)!r}")
    check(finish == {0: "content_filter", 1: "content_filter"}, f"n=2 finish {finish}")


def tool_events(arguments, name="lookup"):
    raw = chunk([{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]}, "finish_reason": None}])
    for k in range(0, len(arguments), 4):
        raw += chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments[k:k + 4]}}]}, "finish_reason": None}])
    return raw + chunk([delta(None, 0, "tool_calls")]) + b"data: [DONE]\n\n"


def scenario_tools():
    clean = tool_events(json.dumps({"city": "北京", "day": "明天"}))
    status, _, got = raw([clean])
    check(got == clean, "clean tool call not byte for byte")
    for arguments in [json.dumps({"q": "你这个狗东西"}), json.dumps({"q": "你这个狗东西"}, ensure_ascii=False)]:
        out, finish, tools, _ = stream([tool_events(arguments)])
        check(tools == [], f"a blocked tool call went out: {tools}")
        check(out.get(0) == FALLBACK and finish.get(0) == "content_filter", f"blocked tool call: {out} {finish}")
    out, finish, tools, _ = stream([tool_events("{}", name="狗东西")])
    check(tools == [] and finish.get(0) == "content_filter", "a tool call with a blocked name went out")


def scenario_usage():
    usage = {"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45}
    full = PREFIX + "狗东西"
    out, finish, _, got = stream([sse(list(full), usage=usage)], stream_options={"include_usage": True})
    blocked_outcome(out.get(0, ""), full, "usage", "狗东西")
    check(got is not None and got.total_tokens == 45, f"usage chunk: {got}")


def scenario_broken():
    full = CLEAN + "然后"
    cases = {
        "error frame": (sse(list(CLEAN[:40])).split(chunk([delta(None, 0, finish="stop")]))[0] + event({"error": {"message": "overloaded"}}) + b"".join(chunk([delta(c)]) for c in CLEAN[40:]), "ok"),
        "no [DONE]": (sse(list(CLEAN), done=False), "ok"),
        "dropped": (sse(list(CLEAN)).split(chunk([delta(None, 0, finish="stop")]))[0], "drop"),
        "malformed": (sse(list(CLEAN[:40])).split(chunk([delta(None, 0, finish="stop")]))[0] + b"data: {not json\n\n" + sse(list(CLEAN[40:])), "ok"),
    }
    for name, (upstream, end) in cases.items():
        out, finish, _, _ = stream([upstream], end=end)
        text = out.get(0, "")
        check(text.endswith(FALLBACK) and finish.get(0) == "content_filter", f"{name}: {text!r} {finish}")
        sent = text[: -len(FALLBACK)]
        check(full.startswith(sent) and len(sent) < len(CLEAN), f"{name}: the held tail went out: {sent!r}")


def scenario_disconnect():
    before = broken()
    upstream = sse(list(CLEAN * 10))
    body = {"model": "m", "messages": [], "stream": True, **script([upstream[i:i + 60] for i in range(0, len(upstream), 60)], delay=0.05)}
    r = post(body)
    while b"content" not in r.readline():
        pass
    r.close()
    for _ in range(600):
        if broken() > before:
            return
        time.sleep(0.05)
    check(False, "the upstream request was not cancelled when the client went away")


class Answer(pydantic.BaseModel):
    text: str


def scenario_stream_helper():
    full = json.dumps({"text": PREFIX + "狗东西"}, ensure_ascii=False)
    try:
        with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}], response_format=Answer,
                                            extra_body=script([sse(list(full))])) as s:
            for _ in s:
                pass
    except openai.ContentFilterFinishReasonError:
        return
    check(False, "the stream helper did not raise ContentFilterFinishReasonError")


def completion(content, tool=None):
    message = {"role": "assistant", "content": content}
    if tool:
        message["tool_calls"] = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": tool}}]
    return {"x_script": {"json": {"id": "chatcmpl-j", "object": "chat.completion", "created": 1, "model": "m",
                                  "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}}}


def scenario_json():
    r = client.chat.completions.create(model="m", messages=[], extra_body=completion(CLEAN))
    check(r.choices[0].message.content == CLEAN and r.choices[0].finish_reason == "stop", "clean JSON")
    r = client.chat.completions.create(model="m", messages=[], extra_body=completion("你这个狗东西"))
    check(r.choices[0].message.content == FALLBACK and r.choices[0].finish_reason == "content_filter", f"blocked JSON {r}")
    r = client.chat.completions.create(model="m", messages=[], extra_body=completion("闭嘴吧，哑巴"))
    check(r.choices[0].message.content == HOLDING and r.choices[0].finish_reason == "content_filter", f"escalated JSON {r}")
    r = client.chat.completions.create(model="m", messages=[], extra_body=completion(None, tool=json.dumps({"q": "狗东西"})))
    check(r.choices[0].message.tool_calls is None and r.choices[0].finish_reason == "content_filter", f"blocked tool JSON {r}")
    try:
        client.chat.completions.create(model="m", messages=[], extra_body={"x_script": {"status": 500}})
        check(False, "an upstream 500 answered 200")
    except openai.APIStatusError as error:
        check(error.status_code == 502, f"upstream 500: {error.status_code}")
    for stream in [False, True]:
        try:
            dead = openai.OpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key=TOKEN, max_retries=0)
            dead.chat.completions.create(model="m", messages=[], stream=stream, extra_body={"x_script": {"status": 503}})
            check(False, "an upstream 503 answered 200")
        except openai.APIStatusError as error:
            check(error.status_code == 502, f"upstream 503 (stream {stream}): {error.status_code}")


def seen(data):
    """Everything a client can read in a response body: the bytes, and each JSON value (data lines or the
    whole body) with its \\u escapes read."""
    text = data.decode("utf-8", "replace")
    for line in [text] + [l[5:].strip() for l in text.splitlines() if l.startswith("data:")]:
        try:
            text += json.dumps(json.loads(line), ensure_ascii=False)
        except ValueError:
            pass
    return text


def scenario_fail_open():
    """Text outside a choice's content string is decided too, in JSON and streamed completions; a stream
    of an unexpected shape is broken (the fallback); a masked span appears in no other field."""
    word = "狗东西"
    bad = "你这个" + word
    def json_completion(choice):
        r = post({"model": "m", "messages": [], "x_script": {"json": {"id": "chatcmpl-j", "object": "chat.completion", "created": 1,
                                                                    "model": "m", "choices": [{"index": 0, "finish_reason": "stop", **choice}]}}})
        data = r.read()
        check(r.status == 200, f"JSON {choice}: HTTP {r.status}")
        return json.loads(data), seen(data)
    for choice in [{"message": {"role": "assistant", "content": [{"type": "text", "text": bad}]}},
                   {"message": {"role": "assistant", "content": None, "refusal": bad}},
                   {"message": {"role": "assistant", "content": "好的", "reasoning_content": bad}},
                   {"message": {"role": "assistant", "content": None, "tool_calls": {"function": {"name": "f", "arguments": bad}}}},
                   {"message": {"role": "assistant", "content": "好的"}, "text": bad},
                   {"message": bad},
                   # A tool call's arguments or name that are not strings (a client's tool reads them anyway).
                   {"message": {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"q": bad}}}]}},
                   {"message": {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c", "type": "function", "function": {"name": ["f", bad], "arguments": "{}"}}]}}]:
        got, text = json_completion(choice)
        check(word not in text and got["choices"][0]["finish_reason"] == "content_filter", f"JSON {choice}: {text}")
    # A masked word: masked in the content; in another field too, or with logprobs, nothing of it goes out.
    got, text = json_completion({"message": {"role": "assistant", "content": "你这个混账东西"}})
    check("混账" not in text and got["choices"][0]["message"]["content"].startswith("你这个") and got["choices"][0]["finish_reason"] == "stop",
          f"masked JSON: {text}")
    for choice in [{"message": {"role": "assistant", "content": "你这个混账东西", "reasoning_content": "他是个混账"}},
                   {"message": {"role": "assistant", "content": "你这个混账东西"}, "logprobs": {"content": [{"token": "混账", "logprob": -1}]}}]:
        got, text = json_completion(choice)
        check("混账" not in text, f"masked JSON {choice}: {text}")
    # Streams: the same text in other places, and shapes the proxy cannot follow.
    head, tail = chunk([delta("", role=True)]), chunk([delta(None, finish="stop")]) + b"data: [DONE]\n\n"
    cases = {
        "content in parts": chunk([{"index": 0, "delta": {"content": [{"type": "text", "text": bad}]}, "finish_reason": None}]),
        "reasoning_content": chunk([{"index": 0, "delta": {"reasoning_content": bad}, "finish_reason": None}]),
        "refusal": chunk([{"index": 0, "delta": {"refusal": bad}, "finish_reason": None}]),
        "function_call": chunk([{"index": 0, "delta": {"function_call": {"name": "f", "arguments": bad}}, "finish_reason": None}]),
        "tool arguments not a string": chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": {"q": bad}}}]}, "finish_reason": None}]),
        "a tool function not an object": chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c", "type": "function", "function": bad}]}, "finish_reason": None}]),
        "a field of a tool function": chunk([{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}", "description": bad}}]}, "finish_reason": None}]),
        "tool_calls not a list": chunk([{"index": 0, "delta": {"tool_calls": {"function": {"name": "f", "arguments": bad}}}, "finish_reason": None}]),
        "a choice field": chunk([{"index": 0, "delta": {}, "message": {"content": bad}, "finish_reason": None}]),
        "a delta not an object": chunk([{"index": 0, "delta": bad, "finish_reason": None}]),
        "a choice not an object": chunk([delta("好的"), bad]),
        "after finish_reason": chunk([delta(None, finish="stop")]) + chunk([delta(bad)]),
        # A string index: its text must not be decided inside choice 0's (a word split around clean text).
        "a string index": chunk([{"index": "1", "delta": {"content": "狗"}, "finish_reason": None}]) +
                          b"".join(chunk([delta(c)]) for c in CLEAN) + chunk([{"index": "1", "delta": {"content": "东西"}, "finish_reason": None}]),
    }
    for name, middle in cases.items():
        status, _, data = raw([head + middle + b"".join(chunk([delta(c)]) for c in CLEAN) + tail])
        text = seen(data)
        joined = {}
        for line in data.decode().splitlines():
            if line.startswith("data: {"):
                for ch in json.loads(line[6:]).get("choices", []):
                    if isinstance(ch, dict) and isinstance(ch.get("delta"), dict) and isinstance(ch["delta"].get("content"), str):
                        joined[str(ch.get("index"))] = joined.get(str(ch.get("index")), "") + ch["delta"]["content"]
        check(status == 200 and word not in text and all(word not in v for v in joined.values()) and FALLBACK in text,
              f"stream with {name}: {joined} {text[-300:]}")


def scenario_json_content():
    """A reply whose content is itself JSON (response_format json_object / json_schema): a client reads it
    with json.loads, so a word written as \\u escapes inside it is the word. Decided as the client reads it,
    in JSON completions and in streams (one character per chunk)."""
    word = "狗东西"
    content = json.dumps({"answer": "你这个" + word})  # ASCII only: every Chinese character a \\u escape
    def readable(text):
        try:
            return json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            return text
    r = client.chat.completions.create(model="m", messages=[], extra_body=completion(content))
    got = r.choices[0].message.content or ""
    check(word not in readable(got) and r.choices[0].finish_reason == "content_filter", f"JSON content: {got}")
    head, tail = chunk([delta("", role=True)]), chunk([delta(None, finish="stop")]) + b"data: [DONE]\n\n"
    status, _, data = raw([head + b"".join(chunk([delta(c)]) for c in content) + tail])
    joined = ""
    for line in data.decode().splitlines():
        if line.startswith("data: {"):
            for ch in json.loads(line[6:]).get("choices", []):
                if isinstance(ch.get("delta"), dict) and isinstance(ch["delta"].get("content"), str):
                    joined += ch["delta"]["content"]
    released = joined[:-len(FALLBACK)] if joined.endswith(FALLBACK) else joined
    check(status == 200 and word not in readable(released) and "\\u72d7\\u4e1c" not in released.lower(),
          f"streamed JSON content: {joined}")


def scenario_duplicate_keys():
    """A key twice in one object of the upstream's JSON, at any depth (parsers disagree on which value
    counts; Foundation merges two spellings of one key that Python keeps apart): a JSON completion is answered 502 like one that is no chat
    completion, a stream is broken (its held tail never sent, the fallback). Tool-call arguments that are
    JSON with a key twice likewise. Each shape with the bad value first and last; the bad value \\u-escaped,
    so only a decoded value can show it."""
    word = "狗东西"
    bad, good = json.dumps("你这个" + word), json.dumps("您好")

    def twice(key, first, second):
        return f'"{key}":{first},"{key}":{second}'

    def completion_of(choices):
        return '{"id":"chatcmpl-j","object":"chat.completion","created":1,"model":"m","choices":' + choices + "}"

    def choice(message):
        return '[{"index":0,"finish_reason":"stop","message":{' + message + "}}]"

    def call(function):
        return '"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{' + function + "}}]"

    def arguments(first, second):
        return json.dumps("{" + twice("q", first, second) + "}")

    for a, b in [(good, bad), (bad, good)]:
        bodies = {
            "content": completion_of(choice('"role":"assistant",' + twice("content", a, b))),
            "an escaped key": completion_of(choice(f'"role":"assistant","content":{a},"\\u0063ontent":{b}')),
            "message": '{"id":"chatcmpl-j","choices":[{"index":0,"finish_reason":"stop",' +
                       twice("message", '{"role":"assistant","content":%s}' % a, '{"role":"assistant","content":%s}' % b) + "}]}",
            "choices": '{"id":"chatcmpl-j",' + twice("choices", choice(f'"role":"assistant","content":{a}'), choice(f'"role":"assistant","content":{b}')) + "}",
            "arguments": completion_of(choice(call('"name":"f",' + twice("arguments", json.dumps(json.dumps({"q": json.loads(a)})),
                                                                         json.dumps(json.dumps({"q": json.loads(b)})))))),
            "a key twice in arguments": completion_of(choice(call('"name":"f","arguments":' + arguments(a, b)))),
        }
        # Two spellings of one key (é, e + U+0301): one key to Foundation, two to Python, whose client shows both.
        if a == bad:
            bodies["a key spelled twice"] = completion_of(choice('"role":"assistant","content":"好","\u00e9":"你这个狗东西","e\u0301":"好"'))
        for name, body in bodies.items():
            r = post({"model": "m", "messages": [], "x_script": {"body": base64.b64encode(body.encode()).decode()}})
            data = r.read()
            check(r.status == 502 and b"upstream_error" in data and word not in seen(data), f"JSON with {name} twice: HTTP {r.status} {seen(data)}")
        # Streams: the key twice in one event, after some released text.
        head = chunk([delta("", role=True)]) + b"".join(chunk([delta(c)]) for c in CLEAN[:40])
        tail = b"".join(chunk([delta(c)]) for c in CLEAN[40:]) + chunk([delta(None, finish="stop")]) + b"data: [DONE]\n\n"

        def event_of(choices):
            return b'data: {"id":"chatcmpl-t","object":"chat.completion.chunk","created":1,"model":"m","choices":' + choices.encode() + b"}\n\n"

        def tool_delta(function):
            return '[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{' + function + '}}]},"finish_reason":null}]'

        events = {
            "content": event_of('[{"index":0,"delta":{' + twice("content", a, b) + '},"finish_reason":null}]'),
            "an escaped key": event_of(f'[{{"index":0,"delta":{{"content":{a},"\\u0063ontent":{b}}},"finish_reason":null}}]'),
            "delta": event_of('[{"index":0,' + twice("delta", '{"content":%s}' % a, '{"content":%s}' % b) + ',"finish_reason":null}]'),
            "choices": b'data: {"id":"chatcmpl-t","object":"chat.completion.chunk",' +
                       twice("choices", '[{"index":0,"delta":{"content":%s}}]' % a, '[{"index":0,"delta":{"content":%s}}]' % b).encode() + b"}\n\n",
            "tool_calls": event_of('[{"index":0,"delta":{' + twice("tool_calls", '[{"index":0,"function":{"name":"f","arguments":%s}}]' % json.dumps(json.dumps({"q": json.loads(a)})),
                                                                    '[{"index":0,"function":{"name":"f","arguments":%s}}]' % json.dumps(json.dumps({"q": json.loads(b)}))) + '},"finish_reason":null}]'),
            "arguments": event_of(tool_delta('"name":"f",' + twice("arguments", json.dumps(json.dumps({"q": json.loads(a)})), json.dumps(json.dumps({"q": json.loads(b)}))))),
        }
        if a == bad:
            events["a key spelled twice"] = event_of('[{"index":0,"delta":{"\u00e9":"你这个狗东西","e\u0301":"好"},"finish_reason":null}]')
        # Arguments that come in pieces and put together are JSON with a key twice.
        pieces = json.loads(arguments(a, b))
        events["a key twice in arguments"] = b"".join(event_of(tool_delta('"name":"f","arguments":' + json.dumps(pieces[k:k + 4])))
                                                      for k in range(0, len(pieces), 4))
        for name, middle in events.items():
            status, _, data = raw([head + middle + tail])
            text = seen(data)
            sent = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content") or "" for line in data.decode().splitlines()
                           if line.startswith("data: {") and json.loads(line[6:]).get("choices"))
            check(status == 200 and word not in text and sent.endswith(FALLBACK) and CLEAN.startswith(sent[: -len(FALLBACK)])
                  and len(sent) - len(FALLBACK) <= 40, f"stream with {name} twice: {text[-400:]}")


SHIPPED_FALLBACK = "抱歉，这个问题我暂时无法回答，请拨打12345政务服务便民热线咨询。"
# Clean replies that stream a sentence at a time with the shipped rules.
SENTENCES = ["您好，您的快递已经到达小区门口的驿站。", "请携带取件码前往领取，驿站营业到晚上八点，周末照常营业。", "如有疑问请拨打客服电话咨询。",
             "您好，办理居住证需要携带身份证原件和租房合同。"]


def gated_stream(first, last, name):
    """A stream of `first` then `last` (one character per event); its last write (`last`, the finish
    chunk and [DONE]) waits until the client opens gate `name` on the upstream. Returns the raw
    response's X-ReplyGuard-Hold header, the chunks' text in order, and how the gate ended."""
    head = chunk([delta("", role=True)]) + b"".join(chunk([delta(c)]) for c in first)
    tail = b"".join(chunk([delta(c)]) for c in last) + chunk([delta(None, finish="stop")]) + b"data: [DONE]\n\n"
    body = script([head, tail])
    body["x_script"]["gate"] = name
    raw_response = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                                    stream=True, extra_body=body)
    text, finish, opened = "", None, False
    for c in raw_response.parse():
        for ch in c.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
        if text and not opened:
            urllib.request.urlopen(f"http://127.0.0.1:{UPSTREAM}/control/open/{name}").read()
            opened = True
    if not opened:
        urllib.request.urlopen(f"http://127.0.0.1:{UPSTREAM}/control/open/{name}").read()
    gates = json.load(urllib.request.urlopen(f"http://127.0.0.1:{UPSTREAM}/control/state"))["gates"]
    return raw_response.headers.get("x-replyguard-hold", ""), text, finish, gates.get(name)


def scenario_sentence_streams():
    """The shipped rules (a model pack): a clean reply streams a sentence at a time, the first sentence
    reaching the client before the upstream sends its last chunk."""
    last = "祝您生活愉快！"
    hold, text, finish, gate = gated_stream("".join(SENTENCES), last, f"clean-{time.time_ns()}")
    check(hold.startswith("sentence;"), f"hold header: {hold!r}")
    check(gate == "opened", f"nothing reached the client before the upstream's last chunk (gate {gate})")
    check(text == "".join(SENTENCES) + last and finish == "stop", f"clean reply: {text!r} {finish}")


def scenario_sentence_blocked():
    """The shipped rules: a later sentence is blocked; the earlier sentences, each allowed with the model
    scored on the prefix through it, went out first, then the fallback."""
    bad = "你这个傻逼，别再来问了。"
    full = "".join(SENTENCES) + bad + "其他的事情以后再说吧。"
    hold, text, finish, gate = gated_stream(full[:-4], full[-4:], f"blocked-{time.time_ns()}")
    check(gate == "opened", f"nothing reached the client before the upstream's last chunk (gate {gate})")
    check(text.endswith(SHIPPED_FALLBACK) and finish == "content_filter", f"blocked reply: {text!r} {finish}")
    sent = text[: -len(SHIPPED_FALLBACK)]
    check(sent.startswith(SENTENCES[0]) and full.startswith(sent) and len(sent) <= full.index("傻逼"), f"sent {sent!r}")
    check(sent[-1] in "。！？!?；;\n", f"released up to no sentence end: {sent!r}")


# bench/proxy-latency.py's reply: words of windowed `all` rules (天天 of hostile.ignore-caller, 一起去 and 大家
# of political.protest-call) with no partner inside their windows.
WINDOWED = "今天天气很好，我们一起去公园散步吧。公园里有很多花，红的黄的紫的都有，孩子们在草地上玩耍，老人们在树下下棋聊天，大家都很开心。"


def scenario_sentence_windowed():
    """The shipped rules: a word of a windowed `all` rule stops streaming only while its window is open;
    this clean reply streams before the upstream's last chunk (it used to go out whole)."""
    first, last = WINDOWED + "".join(SENTENCES), "祝您生活愉快！"
    hold, text, finish, gate = gated_stream(first, last, f"windowed-{time.time_ns()}")
    check(gate == "opened", f"nothing reached the client before the upstream's last chunk (gate {gate})")
    check(text == first + last and finish == "stop", f"clean reply: {text!r} {finish}")


def scenario_error_frame():
    """--upstream-error-frame: a blocked reply ends with an error event the client raises on, after the
    safe prefix; a clean one comes through as before."""
    full = PREFIX + "狗东西，后面还有一些话。"
    received = ""
    try:
        for c in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
                                                extra_body=script([sse(list(full))])):
            for ch in c.choices:
                received += ch.delta.content or ""
        check(False, f"no error raised: {received!r}")
    except openai.APIError as error:
        check(FALLBACK in str(error.message) and isinstance(error.body, dict) and error.body.get("code") == "blocked",
              f"error: {error.message!r} {error.body!r}")
    check(len(received) > 0 and full.startswith(received) and len(received) <= full.index("狗东西"), f"received {received!r}")
    out, finish, _, _ = stream([sse(list(CLEAN))])
    check(out.get(0) == CLEAN and finish.get(0) == "stop", f"clean reply: {out} {finish}")


for name in sys.argv[4:]:
    globals()["scenario_" + name]()
    print(f"ok {name}", flush=True)
