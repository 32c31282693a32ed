#!/bin/sh
# A fake chatbot for the wrap tests. Modes:
#   script        print the seed incident lines between ordinary replies, then exit 0
#   echo          answer each input line with "答复：<line>", exit 0 at end of input
#   partial       print one reply, then half a reply without a line end, and exit 3
#   signal        print one reply, then kill itself with SIGTERM
#   sleep         print one reply, then wait (for signal forwarding tests)
#   stderr        write a diagnostic to stderr and one reply to stdout
#   exit N        exit with status N at once
#   stubborn      print one reply and its pid, then ignore SIGTERM/SIGINT/SIGHUP and wait
#   forks         start a sleeper in the background, print one reply and the sleeper's pid, exit 0
#   forkstay      the same, then wait
mode=${1:-script}
case "$mode" in
  script)
    printf '%s\n' "您好，办事大厅周一至周五上午九点开放。" "你不说话没人把你当哑巴" "网传明天起全市停水" \
      "我仿佛听见了一群蚊子在嗡嗡嗡" "感谢您的留言，我们会尽快处理。" "面子是别人给的，脸是自己丢的"
    ;;
  echo) while IFS= read -r line; do printf '答复：%s\n' "$line"; done ;;
  partial) printf '%s\n' "您好。"; printf '%s' "你不说话没人把"; exit 3 ;;
  signal) printf '%s\n' "您好。"; kill -TERM $$ ;;
  sleep) printf '%s\n' "您好。"; exec sleep 300 ;;
  stderr) echo "bot: warming up" >&2; printf '%s\n' "您好。" ;;
  exit) exit "$2" ;;
  stubborn) trap '' TERM INT HUP; printf '%s\n' "您好。" "$$"; while :; do sleep 1; done ;;
  forks) sleep 300 & printf '%s\n' "您好。" "$!" ;;
  forkstay) sleep 300 & printf '%s\n' "您好。" "$!"; exec sleep 30 ;;
esac
